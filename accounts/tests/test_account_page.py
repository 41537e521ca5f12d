"""The account page's API tokens (create, shown once, revoke) and the admin's, for service accounts."""

import re

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from accounts.api_tokens import TOKEN_SHAPE, authenticate_token, issue_token
from accounts.models import ApiToken, User

pytestmark = pytest.mark.django_db

PLAINTEXT = re.compile(r"tkr_[0-9a-f]{8}_[0-9a-f]{64}")


def shown_tokens(response) -> list[str]:
    return PLAINTEXT.findall(response.content.decode())


def test_the_header_links_to_the_account_page(owner_client):
    assert 'href="/auth/account"' in owner_client.get("/").content.decode()


def test_anonymous_visitors_are_sent_to_log_in():
    client = Client()
    assert client.get("/auth/account")["Location"].startswith("/auth/login")
    assert client.post("/auth/account/tokens", {"name": "x"})["Location"].startswith("/auth/login")
    assert not ApiToken.objects.exists()


def test_a_new_token_is_shown_once_then_never_again(owner_client, owner):
    response = owner_client.post("/auth/account/tokens", {"name": "report script", "expires_in_days": "30"})
    assert response.status_code == 302 and response["Location"] == "/auth/account"
    assert shown_tokens(response) == []  # not in the redirect itself

    page = owner_client.get("/auth/account")
    (plaintext,) = set(shown_tokens(page))
    assert TOKEN_SHAPE.fullmatch(plaintext)
    assert "shown only this once" in page.content.decode()
    assert "no-store" in page["Cache-Control"]
    token = ApiToken.objects.get(user=owner)
    assert authenticate_token(plaintext) == token
    assert token.expires_at is not None

    reloaded = owner_client.get("/auth/account")
    assert shown_tokens(reloaded) == []
    assert plaintext not in str(dict(owner_client.session))  # gone from the session too
    body = reloaded.content.decode()
    assert "report script" in body and token.display_prefix in body and "Active" in body
    assert "Never" not in body  # it has been used (just above) and it expires


def test_a_bad_name_is_an_error_on_the_page_and_saves_nothing(owner_client):
    response = owner_client.post("/auth/account/tokens", {"name": "   "})
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    response = owner_client.post("/auth/account/tokens", {"name": "ok", "expires_in_days": "0"})
    assert "greater than or equal to 1" in response.content.decode()
    response = owner_client.post("/auth/account/tokens", {"name": "line\x0bbreak"})
    assert "one line of text" in response.content.decode()
    assert not ApiToken.objects.exists()
    assert shown_tokens(response) == []


def test_the_limit_is_explained_on_the_page(owner_client, owner, settings):
    settings.API_TOKEN_MAX_PER_USER = 1
    issue_token(owner, "first")
    response = owner_client.post("/auth/account/tokens", {"name": "second"})
    assert "already has 1 active tokens" in response.content.decode()
    assert ApiToken.objects.filter(user=owner).count() == 1


def test_revoking_from_the_page(owner_client, owner):
    token, plaintext = issue_token(owner, "old script")
    response = owner_client.post(f"/auth/account/tokens/{token.pk}/revoke")
    assert response.status_code == 302
    page = owner_client.get("/auth/account").content.decode()
    assert "is revoked" in page and "Revoked" in page
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    assert f"/auth/account/tokens/{token.pk}/revoke" not in page  # no button for a revoked token
    assert owner_client.get(f"/auth/account/tokens/{token.pk}/revoke").status_code == 405


def test_nobody_lists_or_revokes_someone_elses_tokens(owner, second_user):
    token, _ = issue_token(owner, "owner-secret-token-name")
    client = Client()
    client.force_login(second_user)
    assert "owner-secret-token-name" not in client.get("/auth/account").content.decode()
    assert client.post(f"/auth/account/tokens/{token.pk}/revoke").status_code == 404
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None


def test_a_token_does_not_open_the_account_page(owner):
    _, plaintext = issue_token(owner, "script")
    client = Client(headers={"Authorization": f"Bearer {plaintext}"})
    assert client.get("/auth/account")["Location"].startswith("/auth/login")
    assert client.post("/auth/account/tokens", {"name": "more"}).status_code in (302, 403)
    assert ApiToken.objects.count() == 1


def test_staff_issue_a_token_for_a_service_account_in_the_admin_shown_once(django_user_model):
    admin_user = django_user_model.objects.create_superuser("root", "root@example.org", "x")
    service = django_user_model.objects.create_user("report-bot", "bot@example.org", None)
    client = Client()
    client.force_login(admin_user)
    add = client.get("/admin/accounts/apitoken/add/").content.decode()
    assert "token_hash" not in add
    form = {"user": service.pk, "name": "nightly export", "expires_in_days": "90"}
    response = client.post("/admin/accounts/apitoken/add/", form)
    token = ApiToken.objects.get()
    assert response["Location"] == f"/admin/accounts/apitoken/{token.pk}/change/"
    assert "tkr_" not in response.cookies.output()  # not carried in the messages cookie
    change = client.get(response["Location"])
    (plaintext,) = set(shown_tokens(change))
    assert authenticate_token(plaintext).user == service
    assert token.expires_at is not None
    assert shown_tokens(client.get(response["Location"])) == []  # a reload does not show it
    assert shown_tokens(client.get("/admin/accounts/apitoken/")) == []

    # The hash can be neither seen nor changed; only the name can be edited.
    client.post(f"/admin/accounts/apitoken/{token.pk}/change/", {"name": "renamed", "token_hash": "0" * 64})
    token.refresh_from_db()
    assert token.name == "renamed" and authenticate_token(plaintext) == token

    client.post(
        "/admin/accounts/apitoken/",
        {"action": "revoke", "_selected_action": [token.pk]},
    )
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_the_admin_refuses_a_duplicate_name_or_a_token_over_the_limit(django_user_model, settings):
    admin_user = django_user_model.objects.create_superuser("root", "root@example.org", "x")
    service = User.objects.create_user("report-bot", "bot@example.org", None)
    issue_token(service, "nightly")
    client = Client()
    client.force_login(admin_user)
    response = client.post("/admin/accounts/apitoken/add/", {"user": service.pk, "name": "Nightly"})
    assert response.status_code == 200 and "already called" in response.content.decode()
    settings.API_TOKEN_MAX_PER_USER = 1
    response = client.post("/admin/accounts/apitoken/add/", {"user": service.pk, "name": "other"})
    assert "already has 1 active tokens" in response.content.decode()
    assert ApiToken.objects.count() == 1


def test_staff_who_could_not_open_a_new_token_cannot_add_one(staff_user):
    staff_user.user_permissions.add(Permission.objects.get(codename="add_apitoken"))
    client = Client()
    client.force_login(staff_user)
    response = client.post("/admin/accounts/apitoken/add/", {"user": staff_user.pk, "name": "x"})
    assert response.status_code == 403
    assert not ApiToken.objects.exists()
    staff_user.user_permissions.add(Permission.objects.get(codename="view_apitoken"))
    staff_user = User.objects.get(pk=staff_user.pk)  # permissions are cached on the instance
    client.force_login(staff_user)
    response = client.post("/admin/accounts/apitoken/add/", {"user": staff_user.pk, "name": "x"})
    token = ApiToken.objects.get()
    assert response["Location"] == f"/admin/accounts/apitoken/{token.pk}/change/"
    assert len(shown_tokens(client.get(response["Location"]))) == 1
