import pytest
from django.urls import reverse

from accounts.models import User

pytestmark = pytest.mark.django_db

GOOD = {
    "username": "alice",
    "email": "alice@example.org",
    "password1": "s3cure-enough-pw!",
    "password2": "s3cure-enough-pw!",
}


def test_register_creates_account_and_logs_in(client):
    response = client.post(reverse("register"), GOOD)
    assert response.status_code == 302
    user = User.objects.get(username="alice")
    assert user.email == "alice@example.org"
    assert not user.is_staff
    assert client.get(reverse("home")).context["user"] == user


def test_register_rejects_duplicate_email_case_insensitively(client, owner):
    response = client.post(reverse("register"), {**GOOD, "email": "OWNER@Example.ORG"})
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert not User.objects.filter(username="alice").exists()


def test_register_rejects_duplicate_username_case_insensitively(client, owner):
    response = client.post(reverse("register"), {**GOOD, "username": "OWNER"})
    assert response.status_code == 200
    assert User.objects.filter(username__iexact="owner").count() == 1


def test_database_refuses_duplicate_email_even_without_the_form(owner):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user("other", "Owner@Example.org", "x")


def test_register_applies_password_validators(client):
    response = client.post(reverse("register"), {**GOOD, "password1": "12345678", "password2": "12345678"})
    assert response.status_code == 200
    errors = response.context["form"].errors["password2"]
    assert any("too common" in error for error in errors)
    assert any("entirely numeric" in error for error in errors)
    assert not User.objects.filter(username="alice").exists()


def test_register_requires_email(client):
    response = client.post(reverse("register"), {**GOOD, "email": ""})
    assert response.status_code == 200
    assert "email" in response.context["form"].errors


def test_register_page_has_csrf_token(client):
    response = client.get(reverse("register"))
    assert response.status_code == 200
    assert 'name="csrfmiddlewaretoken"' in response.content.decode()
