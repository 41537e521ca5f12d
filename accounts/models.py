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
