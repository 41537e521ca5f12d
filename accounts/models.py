from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractUser, Group, UserManager
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


class CaseInsensitiveUserManager(UserManager):
    def get_by_natural_key(self, username: str) -> "User":
        # Sign-in names are unique case-insensitively (users_username_unique_ci), and accounts
        # registered on the site are named by their e-mail address, which people type in any case.
        return self.get(username__iexact=username)


class User(AbstractUser):
    """A person who uses ToolkitRAG; `is_staff` marks the toolkit's administrators."""

    email = models.EmailField("email address")

    objects = CaseInsensitiveUserManager()

    class Meta:
        db_table = "users"
        constraints = [
            models.UniqueConstraint(Lower("email"), name="users_email_unique_ci"),
            models.UniqueConstraint(Lower("username"), name="users_username_unique_ci"),
        ]

    def __str__(self) -> str:
        return self.username


def invitation_expiry() -> datetime:
    return timezone.now() + timedelta(days=settings.INVITATION_DAYS)


class Invitation(models.Model):
    """An administrator's invitation for one e-mail address to create an account.

    The link's token is mailed and never stored: only its SHA-256 (accounts/invitations.py).
    """

    email = models.EmailField("email address")
    groups = models.ManyToManyField(
        Group, blank=True, related_name="+", help_text="The new account joins these groups."
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(default=invitation_expiry)
    accepted_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        db_table = "invitations"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.email

    @property
    def expired(self) -> bool:
        return self.expires_at <= timezone.now()


class ApiToken(models.Model):
    """A personal API token: `tkr_<prefix>_<secret>`, of which only the SHA-256 is kept.

    Issued, checked and revoked by `accounts.api_tokens`; the plaintext is shown once, at creation.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=8, help_text="Not secret: tells tokens apart in lists.")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        db_table = "api_tokens"
        ordering = ["-created_at", "-pk"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.display_prefix})"

    @property
    def display_prefix(self) -> str:
        return f"tkr_{self.prefix}_…"

    @property
    def status(self) -> str:
        """ "active", "revoked" or "expired"."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return "expired"
        return "active"


class SsoIdentity(models.Model):
    """Who a user is at the organisation's identity provider (OpenID Connect `iss` + `sub`).

    Sign-ins after the first find the account by this, not by e-mail: an address can change at
    the provider or be given to someone else later, the subject cannot.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sso_identities")
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    last_login_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "sso_identities"
        verbose_name = "single sign-on identity"
        verbose_name_plural = "single sign-on identities"
        constraints = [
            models.UniqueConstraint(
                fields=["issuer", "subject"], name="sso_identities_issuer_subject_unique"
            ),
            # One identity per provider and account: a second person at the provider cannot join it.
            models.UniqueConstraint(fields=["user", "issuer"], name="sso_identities_user_issuer_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} at {self.issuer}"
