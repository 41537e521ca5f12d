import pytest
from django.test import Client, override_settings
from django.urls import reverse

from toolkitrag.testing import PASSWORD

pytestmark = pytest.mark.django_db


def login(client, username, password, **headers):
    return client.post(reverse("login"), {"username": username, "password": password}, **headers)


def test_login_and_logout(client, owner):
    response = login(client, "owner", PASSWORD)
    assert response.status_code == 302
    assert client.get(reverse("toolkit-chat")).status_code == 200

    response = client.post(reverse("logout"))
    assert response.status_code == 200
    assert "logged out" in response.content.decode()
    assert client.get(reverse("toolkit-chat")).status_code == 302


def test_logout_by_get_only_asks_for_confirmation(client, owner):
    client.force_login(owner)
    response = client.get(reverse("logout"))
    assert response.status_code == 200
    assert "Log out of ToolkitRAG" in response.content.decode()
    assert client.get(reverse("toolkit-chat")).status_code == 200


def test_wrong_password_shows_form_error(client, owner):
    response = login(client, "owner", "wrong")
    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()


@override_settings(RATE_LIMIT_ENABLED=False)
def test_login_locks_after_5_failures(client, owner):
    for _ in range(4):
        assert login(client, "owner", "wrong").status_code == 200
    assert login(client, "owner", "wrong").status_code == 429  # the 5th failure locks
    response = login(client, "owner", PASSWORD)
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert int(response["Retry-After"]) == 30 * 60
    assert "_auth_user_id" not in client.session


@override_settings(RATE_LIMIT_ENABLED=False)
def test_lockout_counts_reset_after_successful_login(client, owner):
    for _ in range(4):
        login(client, "owner", "wrong")
    assert login(client, "owner", PASSWORD).status_code == 302
    client.post(reverse("logout"))
    for _ in range(4):
        assert login(client, "owner", "wrong").status_code == 200
    assert login(client, "owner", PASSWORD).status_code == 302


@override_settings(RATE_LIMIT_ENABLED=False)
def test_lockout_is_per_username_and_ip(client, owner, second_user):
    for _ in range(5):
        login(client, "owner", "wrong")
    assert login(client, "owner", PASSWORD).status_code == 429
    assert login(Client(), "second", PASSWORD).status_code == 302
    assert login(Client(REMOTE_ADDR="10.0.0.9"), "owner", PASSWORD).status_code == 302


@override_settings(RATE_LIMIT_ENABLED=False)
def test_admin_login_locks_out_too(client, staff_user):
    for _ in range(5):
        client.post("/admin/login/", {"username": "staff", "password": "wrong"})
    response = client.post("/admin/login/", {"username": "staff", "password": PASSWORD})
    assert response.status_code == 429


def test_login_post_without_csrf_token_is_rejected(owner):
    client = Client(enforce_csrf_checks=True)
    response = login(client, "owner", PASSWORD)
    assert response.status_code == 403
    assert "form has expired" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_register_post_without_csrf_token_is_rejected():
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("register"), {"username": "x"})
    assert response.status_code == 403


def test_staff_sees_admin_link_and_others_do_not(client, owner, staff_user):
    client.force_login(owner)
    assert 'href="/admin/"' not in client.get(reverse("home")).content.decode()
    client.force_login(staff_user)
    assert 'href="/admin/"' in client.get(reverse("home")).content.decode()
    assert client.get("/admin/").status_code == 200


def test_non_staff_cannot_open_admin(client, owner):
    client.force_login(owner)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
