from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def plan_list(request: HttpRequest) -> HttpResponse:
    """The signed-in user's own strategy plans."""
    return render(request, "strategies/plan_list.html")
