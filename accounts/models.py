from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models.functions import Lower


class User(AbstractUser):
    """A person who uses ToolkitRAG; `is_staff` marks the toolkit's administrators."""

    email = models.EmailField("email address")

    objects = UserManager()

    class Meta:
        db_table = "users"
        constraints = [
            models.UniqueConstraint(Lower("email"), name="users_email_unique_ci"),
            models.UniqueConstraint(Lower("username"), name="users_username_unique_ci"),
        ]

    def __str__(self) -> str:
        return self.username


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
