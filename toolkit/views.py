from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def chat(request: HttpRequest) -> HttpResponse:
    """The toolkit chat. Until a toolkit is published it explains what comes next."""
    return render(request, "toolkit/chat.html")
