"""Password reset with Django's views and tokens, through a real SMTP server on loopback."""

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from toolkitrag.testing import PASSWORD
from toolkitrag.testing.servers import free_port
from toolkitrag.testing.smtp_server import body, links, path_of

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "plum-orchard-lantern-42"


def ask_reset(client: Client, email: str):
    return client.post(reverse("password_reset"), {"email": email})


def login(username: str, password: str) -> int:
    return Client().post(reverse("login"), {"username": username, "password": password}).status_code


def test_login_page_links_to_password_reset(client):
    page = client.get(reverse("login")).content.decode()
    assert f'href="{reverse("password_reset")}"' in page and "Forgot your password?" in page


def test_reset_by_mailed_link_end_to_end(client, mailbox, owner):
    response = ask_reset(client, "OWNER@example.org")
    assert response.status_code == 302 and response["Location"] == reverse("password_reset_done")
    (message,) = mailbox.messages
    assert message["To"] == "owner@example.org"
    assert message["Subject"] == "Password reset on ToolkitRAG"
    (link,) = links(message)

    page = client.get(path_of(link), follow=True)  # Django swaps the token for a session key
    assert "Choose a new password" in page.content.decode()
    form_url = page.redirect_chain[-1][0]
    done = client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done.status_code == 302 and done["Location"] == reverse("password_reset_complete")
    assert login("owner", NEW_PASSWORD) == 302
    assert login("owner", PASSWORD) == 200

    used = Client().get(path_of(link), follow=True)
    assert "This link cannot be used" in used.content.decode()


def test_reset_applies_the_password_validators(client, mailbox, owner):
    ask_reset(client, "owner@example.org")
    page = client.get(path_of(links(mailbox.messages[0])[0]), follow=True)
    short = client.post(
        page.redirect_chain[-1][0], {"new_password1": "short-pw-1", "new_password2": "short-pw-1"}
    )
    assert "at least 12 characters" in short.content.decode()
    assert login("owner", PASSWORD) == 302


def test_unknown_and_known_addresses_get_the_same_page_and_one_mail_each(mailbox, owner, django_user_model):
    sso_only = django_user_model.objects.create_user("sso-person", "sso@example.org")  # no password
    known = ask_reset(Client(), "owner@example.org")
    unknown = ask_reset(Client(), "nobody@example.org")
    no_password = ask_reset(Client(), sso_only.email)
    assert known.status_code == unknown.status_code == no_password.status_code == 302
    assert known["Location"] == unknown["Location"] == no_password["Location"]
    done = [Client().get(response["Location"]).content for response in (known, unknown)]
    assert done[0] == done[1]

    to_owner, to_nobody, to_sso = mailbox.messages
    assert [m["To"] for m in mailbox.messages] == [
        "owner@example.org",
        "nobody@example.org",
        "sso@example.org",
    ]
    assert "/auth/reset/" in body(to_owner)
    assert "no account here uses it" in body(to_nobody) and "/auth/reset/" not in body(to_nobody)
    assert "cannot have its password reset here" in body(to_sso) and "/auth/reset/" not in body(to_sso)


def test_mail_server_down_gives_the_same_clear_page_for_every_address(owner, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nothing listens there
    known = ask_reset(Client(), "owner@example.org")
    unknown = ask_reset(Client(), "nobody@example.org")
    assert known.status_code == unknown.status_code == 503
    assert known.content == unknown.content
    assert "could not send e-mail" in known.content.decode()
    assert login("owner", PASSWORD) == 302


@override_settings(RATE_LIMIT_MAIL_PER_ADDRESS=2, RATE_LIMIT_AUTH_REQUESTS=100)
def test_reset_mails_to_one_address_are_rate_limited(mailbox, owner):
    for n in range(2):
        assert ask_reset(Client(REMOTE_ADDR=f"10.0.0.{n}"), "owner@example.org").status_code == 302
    response = ask_reset(Client(REMOTE_ADDR="10.0.0.9"), "Owner@Example.org")
    assert response.status_code == 429
    assert len(mailbox.messages) == 2
    assert ask_reset(Client(REMOTE_ADDR="10.0.0.9"), "second@example.org").status_code == 302


@override_settings(RATE_LIMIT_AUTH_REQUESTS=2, RATE_LIMIT_MAIL_PER_ADDRESS=100)
def test_reset_requests_from_one_client_are_rate_limited(mailbox, rate_window):
    rate_window()
    client = Client()
    for n in range(2):
        assert ask_reset(client, f"person{n}@example.org").status_code == 302
    assert ask_reset(client, "person9@example.org").status_code == 429


@override_settings(RATE_LIMIT_ENABLED=False)
def test_resetting_the_password_lifts_a_lockout(client, mailbox, owner):
    for _ in range(5):
        login("owner", "wrong")
    assert login("owner", PASSWORD) == 429
    ask_reset(client, "owner@example.org")
    page = client.get(path_of(links(mailbox.messages[0])[0]), follow=True)
    client.post(page.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert login("owner", NEW_PASSWORD) == 302
