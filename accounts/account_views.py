"""The account page: a signed-in user's personal API tokens (list, create, revoke).

A new token's plaintext is shown once. The POST that creates it puts it in the session and
redirects; the page's next GET takes it out again (pop) and shows it, so a reload, the back button
or another tab never shows it a second time, and the session keeps it no longer than that one
redirect. Pages are `Cache-Control: private, no-store` (toolkitrag/cache_control.py).
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.api_tokens import TokenRefused, issue_token, revoke_token
from accounts.models import ApiToken
from accounts.token_forms import ApiTokenForm

SHOWN_ONCE = "api_token_shown_once"


def render_account(request: HttpRequest, form: ApiTokenForm, new_token: dict | None = None) -> HttpResponse:
    tokens = ApiToken.objects.filter(user=request.user)
    return render(request, "accounts/account.html", {"form": form, "tokens": tokens, "new_token": new_token})


@login_required
def account(request: HttpRequest) -> HttpResponse:
    return render_account(request, ApiTokenForm(user=request.user), request.session.pop(SHOWN_ONCE, None))


@login_required
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    form = ApiTokenForm(request.POST, user=request.user)
    if not form.is_valid():
        return render_account(request, form)
    try:
        token, plaintext = issue_token(
            request.user, form.cleaned_data["name"], form.cleaned_data["expires_in_days"]
        )
    except TokenRefused as refused:  # another request took the last place or the name meanwhile
        form.add_error("name", str(refused))
        return render_account(request, form)
    request.session[SHOWN_ONCE] = {"name": token.name, "token": plaintext}
    return redirect("account")


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = revoke_token(request.user, token_id)
    if token is None:
        raise Http404("No such token.")
    messages.success(request, f"Token “{token.name}” is revoked: calls with it are refused from now on.")
    return redirect("account")
