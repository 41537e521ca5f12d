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
