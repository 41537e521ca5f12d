from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import SetPasswordForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.debug import sensitive_post_parameters

from accounts import invitations, lockout, registration
from accounts.account_mail import MailNotSent
from accounts.forms import PasswordResetForm, RegistrationForm
from accounts.models import User
from accounts.rate_limits import by_posted_email, per_hour, per_minute, rate_limit
from toolkitrag.views import service_unavailable

auth_rate_limit = rate_limit("auth", per_minute("RATE_LIMIT_AUTH_REQUESTS"))
# Mail to one address: a visitor cannot flood someone's inbox from many client addresses.
mail_rate_limit = rate_limit("auth-mail", per_hour("RATE_LIMIT_MAIL_PER_ADDRESS"), by_posted_email)
PASSWORD_FIELDS = ("new_password1", "new_password2")

MAIL_DOWN = "We could not send e-mail just now, so nothing was changed. Please try again in a few minutes."


def sso_only() -> bool:
    """OIDC_SSO_ONLY: accounts come from the provider only, by no sign-up link or invitation."""
    return settings.SSO_ENABLED and settings.OIDC_SSO_ONLY


def sso_only_page(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/sso_only.html", status=200 if request.method == "GET" else 403)


@auth_rate_limit
@mail_rate_limit
def register(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    if sso_only():
        return sso_only_page(request)
    if not registration.self_service_open():
        # invite and closed mode: no form, only what to do instead.
        return render(request, "accounts/register_unavailable.html", {"mode": settings.REGISTRATION_MODE})
    form = RegistrationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            registration.send_signup_mail(request, form.cleaned_data["email"])
        except MailNotSent:
            return service_unavailable(request, MAIL_DOWN, retry_after=300)
        # The same page whether or not the address has an account: its owner learns which by mail.
        context = {"link_hours": settings.REGISTRATION_LINK_HOURS}
        return render(request, "accounts/register_sent.html", context)
    domains = settings.REGISTRATION_EMAIL_DOMAINS if settings.REGISTRATION_MODE == "domain" else []
    return render(request, "accounts/register.html", {"form": form, "registration_domains": domains})


def link_problem(request: HttpRequest, problem: str) -> HttpResponse:
    """The page for a sign-up or invitation link that cannot be used: expired, used, or unknown."""
    context = {"problem": problem, "mode_open": registration.self_service_open()}
    return render(request, "accounts/link_problem.html", context, status=400)


def _password_page(request: HttpRequest, form: SetPasswordForm, title: str) -> HttpResponse:
    return render(request, "accounts/choose_password.html", {"form": form, "title": title})


def _welcome(request: HttpRequest, user) -> HttpResponse:
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    messages.success(request, f"Welcome. Your account is ready; you sign in as {user.username}.")
    return redirect("home")


@sensitive_post_parameters(*PASSWORD_FIELDS)
@auth_rate_limit
def register_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """Step two of open/domain registration: the mailed link, where the password is chosen."""
    if request.user.is_authenticated:
        return redirect("home")
    if sso_only():
        return sso_only_page(request)
    if not registration.self_service_open():
        return render(request, "accounts/register_unavailable.html", {"mode": settings.REGISTRATION_MODE})
    try:
        email = registration.email_from_signup_token(token)
    except registration.LinkExpired:
        return link_problem(request, "expired")
    except registration.LinkInvalid:
        return link_problem(request, "invalid")
    if not registration.domain_allowed(email):  # REGISTRATION_EMAIL_DOMAINS changed since
        return link_problem(request, "invalid")
    if User.objects.filter(email__iexact=email).exists():
        return link_problem(request, "used")
    form = SetPasswordForm(registration.new_account(email), request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = registration.create_account(form)
        except registration.AddressTaken:
            return link_problem(request, "used")
        return _welcome(request, user)
    return _password_page(request, form, "Choose your password")


@sensitive_post_parameters(*PASSWORD_FIELDS)
@auth_rate_limit
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """An invitation's link: the invited address's owner chooses a password and joins."""
    if request.user.is_authenticated:
        return redirect("home")
    if sso_only():
        return sso_only_page(request)
    if settings.REGISTRATION_MODE == "closed":
        return render(request, "accounts/register_unavailable.html", {"mode": "closed"})
    try:
        invite = invitations.open_invitation(token)
    except registration.LinkExpired:
        return link_problem(request, "expired-invitation")
    except registration.AddressTaken:
        return link_problem(request, "used")
    except registration.LinkInvalid:
        return link_problem(request, "invalid")
    form = SetPasswordForm(registration.new_account(invite.email), request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = invitations.accept(invite, form)
        except registration.AddressTaken:
            return link_problem(request, "used")
        return _welcome(request, user)
    return _password_page(request, form, "Accept your invitation")


class LoginView(auth_views.LoginView):
    """Django's login, warning when a few more failures would lock the name out here."""

    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def form_invalid(self, form):
        warning = lockout.warning(self.request, lockout.axes_username(self.request))
        return self.render_to_response(self.get_context_data(form=form, lockout_warning=warning))


password_login = auth_rate_limit(LoginView.as_view())


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
    minutes = lockout.cooloff_minutes()
    response = render(request, "accounts/locked_out.html", {"cooloff_minutes": minutes}, status=429)
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response


# Password reset: Django's own views and tokens (PASSWORD_RESET_TIMEOUT), our templates.
class PasswordResetView(auth_views.PasswordResetView):
    form_class = PasswordResetForm
    template_name = "accounts/password_reset_form.html"
    email_template_name = "accounts/email/password_reset.txt"
    subject_template_name = "accounts/email/password_reset_subject.txt"

    def form_valid(self, form):
        try:
            return super().form_valid(form)
        except MailNotSent:  # every address gets a mail, so this tells nothing about the address
            return service_unavailable(self.request, MAIL_DOWN, retry_after=300)


password_reset = auth_rate_limit(mail_rate_limit(PasswordResetView.as_view()))
password_reset_done = auth_views.PasswordResetDoneView.as_view(
    template_name="accounts/password_reset_done.html"
)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("password_reset_complete")

    def form_valid(self, form):
        response = super().form_valid(form)
        # Whoever reset the password owns the address: lockouts of the name would only stop them.
        lockout.lift(form.user.get_username())
        return response


password_reset_confirm = auth_rate_limit(PasswordResetConfirmView.as_view())
password_reset_complete = auth_views.PasswordResetCompleteView.as_view(
    template_name="accounts/password_reset_complete.html"
)
