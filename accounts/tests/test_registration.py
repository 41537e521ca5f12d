"""Registration in each REGISTRATION_MODE, through a real SMTP server on loopback: the test reads
the mail the app sent and follows its link, as the address's owner would."""

import time

import pytest
from django.core import signing
from django.db import IntegrityError, transaction
from django.test import Client, override_settings
from django.urls import reverse

from accounts.models import User
from accounts.registration import SIGNUP_SALT
from toolkitrag.testing.servers import free_port
from toolkitrag.testing.smtp_server import body, links, path_of

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "plum-orchard-lantern-42"
PASSWORDS = {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}


def register(client: Client, email: str):
    return client.post(reverse("register"), {"email": email})


def only_link(mailbox) -> str:
    assert len(mailbox.messages) == 1
    (link,) = links(mailbox.messages[0])
    return path_of(link)


def test_open_registration_mails_a_link_where_the_account_is_made(client, mailbox):
    response = register(client, "Alice@Example.org")
    assert response.status_code == 200
    assert "Check your e-mail" in response.content.decode()
    assert not User.objects.filter(email__iexact="alice@example.org").exists()  # nothing yet

    message = mailbox.messages[0]
    assert message["To"] == "Alice@Example.org"
    assert message["Subject"] == "Finish creating your ToolkitRAG account"
    link = only_link(mailbox)
    page = client.get(link)
    assert page.status_code == 200
    assert "You will sign in as <strong>alice@example.org</strong>" in page.content.decode()

    response = client.post(link, PASSWORDS)
    assert response.status_code == 302
    user = User.objects.get(email="alice@example.org")
    assert user.username == "alice@example.org" and user.is_active and not user.is_staff
    assert client.get(reverse("home")).context["user"] == user
    # The address is the sign-in name, in whatever case its owner types it.
    assert (
        Client()
        .post(reverse("login"), {"username": "ALICE@example.org", "password": NEW_PASSWORD})
        .status_code
        == 302
    )


def test_registering_a_taken_address_looks_the_same_and_tells_its_owner(client, mailbox, owner):
    fresh = register(client, "newcomer@example.org")
    taken = register(Client(), "OWNER@Example.ORG")
    assert taken.status_code == fresh.status_code == 200
    assert taken.content == fresh.content
    assert "already" not in taken.content.decode()

    to_newcomer, to_owner = mailbox.messages
    assert to_owner["To"] == "OWNER@Example.ORG"
    assert to_owner["Subject"] == "Someone tried to register with your address"
    text = body(to_owner)
    assert "Sign in as owner" in text
    assert any(path_of(link) == reverse("password_reset") for link in links(to_owner))
    assert User.objects.filter(email__iexact="owner@example.org").count() == 1
    assert "/auth/register/" in body(to_newcomer)


def test_the_form_asks_no_username_so_none_can_be_found_taken(client):
    page = client.get(reverse("register")).content.decode()
    assert 'name="email"' in page and 'name="username"' not in page
    assert 'name="csrfmiddlewaretoken"' in page


def test_a_used_link_says_so_and_changes_nothing(client, mailbox):
    register(client, "alice@example.org")
    link = only_link(mailbox)
    assert client.post(link, PASSWORDS).status_code == 302
    again = Client().post(
        link, {"new_password1": "another-long-pass-9", "new_password2": "another-long-pass-9"}
    )
    assert again.status_code == 400
    assert "This link has been used" in again.content.decode()
    login = {"username": "alice@example.org", "password": NEW_PASSWORD}
    assert Client().post(reverse("login"), login).status_code == 302


def test_an_address_registered_while_the_link_was_open_gets_the_used_page(client, mailbox):
    register(client, "alice@example.org")
    link = only_link(mailbox)
    assert client.get(link).status_code == 200
    User.objects.create_user("alice-by-admin", "ALICE@example.org", "admin-set-password-1")
    response = client.post(link, PASSWORDS)
    assert response.status_code == 400
    assert "This link has been used" in response.content.decode()
    assert User.objects.filter(email__iexact="alice@example.org").count() == 1


class OldSigner(signing.TimestampSigner):
    """Signs as if two days ago: the link the owner opens too late."""

    def timestamp(self) -> str:
        return signing.b62_encode(int(time.time()) - 2 * 24 * 3600)


def test_an_expired_link_gets_a_clear_page(client):
    token = OldSigner(salt=SIGNUP_SALT).sign_object("alice@example.org", compress=True)
    response = client.get(reverse("register-confirm", args=[token]))
    assert response.status_code == 400
    assert "This link has expired" in response.content.decode()
    assert 'href="/auth/register"' in response.content.decode()


def test_a_forged_link_gets_a_clear_page(client):
    token = signing.dumps("alice@example.org", salt="some-other-purpose")
    response = client.post(reverse("register-confirm", args=[token]), PASSWORDS)
    assert response.status_code == 400
    assert "This link is not valid" in response.content.decode()
    assert not User.objects.filter(email="alice@example.org").exists()


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("short-pw-1", "at least 12 characters"),
        ("password1234", "too common"),
        ("840193755519", "entirely numeric"),
        ("alice@example.org1", "too similar"),
    ],
)
def test_passwords_meet_the_validators(client, mailbox, password, expected):
    register(client, "alice@example.org")
    response = client.post(only_link(mailbox), {"new_password1": password, "new_password2": password})
    assert response.status_code == 200
    assert expected in response.content.decode()
    assert not User.objects.filter(email="alice@example.org").exists()


def test_mail_server_down_gives_a_clear_page_and_creates_nothing(client, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nothing listens there
    response = register(client, "alice@example.org")
    assert response.status_code == 503
    assert "could not send e-mail" in response.content.decode()
    assert not User.objects.filter(email="alice@example.org").exists()


@override_settings(REGISTRATION_MODE="domain", REGISTRATION_EMAIL_DOMAINS=["example.org", "example.net"])
def test_domain_mode_takes_the_organisations_addresses_only(client, mailbox):
    page = client.get(reverse("register")).content.decode()
    assert "example.org, example.net" in page
    response = register(client, "mallory@elsewhere.com")
    assert response.status_code == 200
    assert "for addresses of the organisation only" in response.content.decode()
    assert mailbox.messages == []

    register(client, "Bob@EXAMPLE.net")
    assert client.post(only_link(mailbox), PASSWORDS).status_code == 302
    assert User.objects.get(email="bob@example.net").is_active


def test_domain_mode_link_stops_working_when_its_domain_is_removed(client, mailbox, settings):
    settings.REGISTRATION_MODE, settings.REGISTRATION_EMAIL_DOMAINS = "domain", ["example.org"]
    register(client, "bob@example.org")
    link = only_link(mailbox)
    settings.REGISTRATION_EMAIL_DOMAINS = ["example.net"]
    assert client.post(link, PASSWORDS).status_code == 400
    assert not User.objects.filter(email="bob@example.org").exists()


@pytest.mark.parametrize("mode", ["invite", "closed"])
def test_invite_and_closed_mode_have_no_form_and_send_nothing(client, mailbox, settings, mode):
    settings.REGISTRATION_MODE = mode
    page = client.get(reverse("register"))
    assert page.status_code == 200
    assert 'name="email"' not in page.content.decode()
    expected = "by invitation only" if mode == "invite" else "created by its administrators"
    assert expected in page.content.decode()
    response = register(client, "alice@example.org")
    assert expected in response.content.decode()
    assert mailbox.messages == []


def test_a_link_from_open_mode_does_nothing_once_the_site_is_invite_only(client, mailbox, settings):
    register(client, "alice@example.org")
    link = only_link(mailbox)
    settings.REGISTRATION_MODE = "invite"
    response = client.post(link, PASSWORDS)
    assert "by invitation only" in response.content.decode()
    assert not User.objects.filter(email="alice@example.org").exists()


def test_database_refuses_duplicate_email_even_without_the_form(owner):
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user("other", "Owner@Example.org", "x")


def test_register_post_without_csrf_token_is_rejected():
    response = Client(enforce_csrf_checks=True).post(reverse("register"), {"email": "a@example.org"})
    assert response.status_code == 403
