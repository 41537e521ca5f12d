"""Who may create an account, and how (REGISTRATION_MODE), without telling anyone who has one.

open and domain mode: /auth/register asks for an e-mail address only and always answers "check
your e-mail". The address's owner gets either a signed link to choose a password (the account is
created when they do) or, when the address already has an account, a note saying someone tried
to register with it and how to sign in or reset the password. Both paths do the same work (one
lookup, one message), so neither the page nor its timing tells a visitor whether an address is
registered. The account's sign-in name is its e-mail address, so there is no separate username
whose "already taken" would leak either.

invite mode: only the links of accounts/invitations.py create accounts. closed: none do.
"""

from django.conf import settings
from django.contrib.auth.forms import SetPasswordForm
from django.core import signing
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.urls import reverse

from accounts.account_mail import send_account_mail
from accounts.models import User

SIGNUP_SALT = "accounts.registration.signup"


class LinkExpired(Exception):
    pass


class LinkInvalid(Exception):
    pass


class AddressTaken(Exception):
    """The link's address has an account by now (the link was used, or an administrator made one)."""


def self_service_open() -> bool:
    """Whether visitors may ask for a sign-up link (open and domain mode)."""
    return settings.REGISTRATION_MODE in ("open", "domain")


def domain_allowed(email: str) -> bool:
    if settings.REGISTRATION_MODE != "domain":
        return True
    return email.rpartition("@")[2].lower() in settings.REGISTRATION_EMAIL_DOMAINS


def signup_token(email: str) -> str:
    return signing.dumps(email.lower(), salt=SIGNUP_SALT, compress=True)


def email_from_signup_token(token: str) -> str:
    """The address a sign-up link was sent to; LinkExpired or LinkInvalid otherwise."""
    try:
        return signing.loads(token, salt=SIGNUP_SALT, max_age=settings.REGISTRATION_LINK_HOURS * 3600)
    except signing.SignatureExpired as error:
        raise LinkExpired from error
    except signing.BadSignature as error:
        raise LinkInvalid from error


def send_signup_mail(request: HttpRequest, email: str) -> None:
    """Mail the owner of `email` a sign-up link, or, if the address has an account, a warning.

    Raises MailNotSent when the mail server fails (on both paths alike).
    """
    existing = User.objects.filter(email__iexact=email).first()
    if existing is None:
        link = request.build_absolute_uri(reverse("register-confirm", args=[signup_token(email)]))
        context = {"link": link, "hours": settings.REGISTRATION_LINK_HOURS}
        send_account_mail("Finish creating your ToolkitRAG account", "signup_link", email, context)
    else:
        context = {
            "login": request.build_absolute_uri(reverse("login")),
            "reset": request.build_absolute_uri(reverse("password_reset")),
            "username": existing.username,
        }
        send_account_mail("Someone tried to register with your address", "signup_existing", email, context)


def new_account(email: str) -> User:
    """An unsaved account for `email`, named by the address, for the set-password form."""
    email = email.lower()
    return User(username=email, email=email)


def create_account(form: SetPasswordForm) -> User:
    """Save the account of a valid set-password form; AddressTaken if the address got one meanwhile."""
    if User.objects.filter(email__iexact=form.user.email).exists():
        raise AddressTaken
    try:
        with transaction.atomic():
            return form.save()
    except IntegrityError as error:
        # The same link followed twice at once: the unique constraints decide, the second loses.
        raise AddressTaken from error
