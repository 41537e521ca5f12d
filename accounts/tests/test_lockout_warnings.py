"""The login page warns before a lockout; staff lift lockouts from the admin."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client, override_settings
from django.urls import reverse

from toolkitrag.testing import PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_rate_limits")]


@pytest.fixture
def no_rate_limits(settings):
    settings.RATE_LIMIT_ENABLED = False  # the lockout, not the per-minute limit, is under test


def login(client: Client, username: str, password: str):
    return client.post(reverse("login"), {"username": username, "password": password})


def fail_times(client: Client, username: str, times: int):
    response = None
    for _ in range(times):
        response = login(client, username, "wrong")
    return response


def test_no_warning_while_the_lockout_is_far(client, owner):
    page = fail_times(client, "owner", 2).content.decode()
    assert "correct username and password" in page
    assert "attempts left" not in page


def test_warning_says_attempts_left_and_how_long_the_lockout_lasts(client, owner):
    assert (
        "2 attempts left before sign-in is locked for 30 minutes."
        in fail_times(client, "owner", 3).content.decode()
    )
    assert (
        "1 attempt left before sign-in is locked for 30 minutes."
        in fail_times(client, "owner", 1).content.decode()
    )
    assert fail_times(client, "owner", 1).status_code == 429


@override_settings(AXES_FAILURE_LIMIT=3)
def test_warning_follows_the_configured_limit_and_cooloff(client, owner, settings):
    settings.AXES_COOLOFF_TIME = timedelta(minutes=10)
    page = fail_times(client, "owner", 1).content.decode()
    assert "2 attempts left before sign-in is locked for 10 minutes." in page


def test_warning_is_the_same_for_a_name_nobody_has(owner):
    existing = fail_times(Client(), "owner", 3).content.decode()
    unknown = fail_times(Client(), "nobody-by-this-name", 3).content.decode()
    warning = "2 attempts left before sign-in is locked for 30 minutes."
    assert warning in existing and warning in unknown


def test_changing_the_case_of_the_name_does_not_buy_more_attempts(client, owner):
    for name in ("owner", "Owner", "OWNER", "oWner", "owNER"):
        login(client, name, "wrong")
    assert login(client, "owner", PASSWORD).status_code == 429


def test_sign_in_names_are_case_insensitive(client, owner):
    assert login(client, "OWNER", PASSWORD).status_code == 302


def test_staff_lift_a_lockout_from_the_user_admin(owner, django_user_model):
    fail_times(Client(), "owner", 5)
    assert login(Client(), "owner", PASSWORD).status_code == 429
    admin = django_user_model.objects.create_superuser("root", "root@example.org", PASSWORD)
    staff = Client()
    staff.force_login(admin)
    page = staff.post(
        "/admin/accounts/user/", {"action": "lift_lockout", "_selected_action": [owner.pk]}, follow=True
    )
    assert "these users can sign in again" in page.content.decode()
    assert login(Client(), "owner", PASSWORD).status_code == 302


def test_staff_lift_a_lockout_from_the_access_attempts_admin(owner, django_user_model):
    fail_times(Client(), "owner", 5)
    attempt = AccessAttempt.objects.get(username="owner")
    admin = django_user_model.objects.create_superuser("root", "root@example.org", PASSWORD)
    staff = Client()
    staff.force_login(admin)
    listing = staff.get("/admin/axes/accessattempt/").content.decode()
    assert "Locked Out" in listing and "Lift lockout" in listing
    staff.post("/admin/axes/accessattempt/", {"action": "lift_lockout", "_selected_action": [attempt.pk]})
    assert login(Client(), "owner", PASSWORD).status_code == 302
