from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters

from accounts.forms import RegistrationForm
from accounts.rate_limits import per_minute, rate_limit

auth_rate_limit = rate_limit("auth", per_minute("RATE_LIMIT_AUTH_REQUESTS"))


@sensitive_post_parameters("password1", "password2")
@auth_rate_limit
def register(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    if settings.SSO_ENABLED and settings.OIDC_SSO_ONLY:  # accounts come from the provider only
        return render(request, "accounts/sso_only.html", status=200 if request.method == "GET" else 403)
    form = RegistrationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                user = form.save()
        except IntegrityError:
            # Two sign-ups with the same name or email at once: the database constraint decides.
            form.add_error(None, "That username or email address was just taken. Choose another.")
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"Welcome, {user.username}. Your account is ready.")
            return redirect("home")
    return render(request, "accounts/register.html", {"form": form})


password_login = auth_rate_limit(
    auth_views.LoginView.as_view(template_name="accounts/login.html", redirect_authenticated_user=True)
)


def login_view(request: HttpRequest) -> HttpResponse:
    """The login page; with OIDC_SSO_ONLY its password form is gone and a password is refused
    (staff use /admin/login/, which admits staff only)."""
    if settings.SSO_ENABLED and settings.OIDC_SSO_ONLY and request.method == "POST":
        return render(request, "accounts/login.html", {"password_refused": True}, status=403)
    return password_login(request)


logout_view = auth_views.LogoutView.as_view(template_name="accounts/logged_out.html")


def logout_confirm(request: HttpRequest) -> HttpResponse:
    """GET shows a button (logging out changes state, so it takes a CSRF-protected POST)."""
    if request.method == "POST":
        return logout_view(request)
    return render(request, "accounts/logout.html")


def locked_out(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """django-axes calls this when a username+IP pair is locked out (AXES_LOCKOUT_CALLABLE)."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    response = render(request, "accounts/locked_out.html", {"cooloff_minutes": minutes}, status=429)
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response
