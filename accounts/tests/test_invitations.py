"""Invitations (REGISTRATION_MODE=invite): staff invite from the admin, the mail reaches a real
SMTP server on loopback, and the invited person follows its link."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Invitation, User
from toolkitrag.testing import PASSWORD
from toolkitrag.testing.servers import free_port
from toolkitrag.testing.smtp_server import links, path_of

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "plum-orchard-lantern-42"
PASSWORDS = {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}


@pytest.fixture(autouse=True)
def invite_mode(settings):
    settings.REGISTRATION_MODE = "invite"


@pytest.fixture
def admin_client(django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.org", PASSWORD)
    client = Client()
    client.force_login(admin)
    return client


def invite(admin_client, email: str, groups=(), expires_at=None):
    expires_at = expires_at or timezone.localtime() + timedelta(days=7)
    form = {
        "email": email,
        "groups": [group.pk for group in groups],
        "expires_at_0": expires_at.strftime("%Y-%m-%d"),
        "expires_at_1": expires_at.strftime("%H:%M:%S"),
    }
    return admin_client.post("/admin/accounts/invitation/add/", form, follow=True)


def link_in(message) -> str:
    (link,) = links(message)
    return path_of(link)


def test_an_invited_person_joins_in_the_chosen_groups(admin_client, mailbox):
    readers = Group.objects.create(name="readers")
    page = invite(admin_client, "carol@example.org", groups=[readers])
    assert "Invitation mailed to carol@example.org" in page.content.decode()
    invitation = Invitation.objects.get()
    assert invitation.invited_by.username == "root" and invitation.accepted_at is None

    (message,) = mailbox.messages
    assert message["To"] == "carol@example.org"
    assert message["Subject"] == "You are invited to ToolkitRAG"
    link = link_in(message)
    token = link.rsplit("/", 1)[1]
    assert token not in invitation.token_hash and len(invitation.token_hash) == 64  # only its hash

    visitor = Client()
    form = visitor.get(link)
    assert form.status_code == 200
    assert "You will sign in as <strong>carol@example.org</strong>" in form.content.decode()
    assert visitor.post(link, PASSWORDS).status_code == 302
    carol = User.objects.get(email="carol@example.org")
    assert list(carol.groups.all()) == [readers]
    invitation.refresh_from_db()
    assert invitation.accepted_at is not None

    again = Client().post(link, PASSWORDS)
    assert again.status_code == 400
    assert "This link has been used" in again.content.decode()


def test_the_address_is_the_invited_one_whatever_the_form_says(admin_client, mailbox):
    invite(admin_client, "carol@example.org")
    link = link_in(mailbox.messages[0])
    Client().post(link, {**PASSWORDS, "email": "mallory@example.com", "username": "mallory"})
    assert User.objects.get(is_superuser=False).email == "carol@example.org"
    assert not User.objects.filter(email="mallory@example.com").exists()


def test_an_expired_invitation_gets_a_clear_page_and_resending_renews_it(admin_client, mailbox):
    invite(admin_client, "carol@example.org")
    old_link = link_in(mailbox.messages[0])
    invitation = Invitation.objects.get()
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    response = Client().get(old_link)
    assert response.status_code == 400
    assert "This invitation has expired" in response.content.decode()

    admin_client.post(
        "/admin/accounts/invitation/", {"action": "resend", "_selected_action": [invitation.pk]}
    )
    new_link = link_in(mailbox.messages[1])
    assert new_link != old_link
    assert Client().get(old_link).status_code == 400  # the old token is gone
    assert Client().post(new_link, PASSWORDS).status_code == 302
    assert User.objects.filter(email="carol@example.org").exists()


def test_an_unknown_invitation_link_gets_a_clear_page(client):
    response = client.get(reverse("invitation", args=["no-such-invitation"]))
    assert response.status_code == 400
    assert "This link is not valid" in response.content.decode()


def test_closed_mode_refuses_invitation_links(admin_client, mailbox, settings):
    invite(admin_client, "carol@example.org")
    settings.REGISTRATION_MODE = "closed"
    response = Client().post(link_in(mailbox.messages[0]), PASSWORDS)
    assert "created by its administrators" in response.content.decode()
    assert not User.objects.filter(email="carol@example.org").exists()


def test_mail_server_down_keeps_the_invitation_and_says_to_resend(admin_client, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nothing listens there
    page = invite(admin_client, "carol@example.org")
    assert page.status_code == 200
    assert "the mail server failed" in page.content.decode()
    assert Invitation.objects.filter(email="carol@example.org").exists()


def test_the_admin_refuses_to_invite_an_address_that_has_an_account(admin_client, mailbox, owner):
    page = invite(admin_client, "Owner@example.org")
    assert "An account with this address exists already." in page.content.decode()
    assert not Invitation.objects.exists() and mailbox.messages == []


def test_an_invitation_whose_address_got_an_account_meanwhile_says_used(
    admin_client, mailbox, django_user_model
):
    invite(admin_client, "carol@example.org")
    User.objects.create_user("carol-by-admin", "Carol@example.org", "admin-set-password-1")
    response = Client().post(link_in(mailbox.messages[0]), PASSWORDS)
    assert response.status_code == 400
    assert "This link has been used" in response.content.decode()
    assert User.objects.filter(email__iexact="carol@example.org").count() == 1


def test_the_admin_refuses_an_invitation_that_has_expired_already(admin_client, mailbox):
    page = invite(admin_client, "carol@example.org", expires_at=timezone.localtime() - timedelta(hours=1))
    assert "Choose a time in the future" in page.content.decode()
    assert not Invitation.objects.exists() and mailbox.messages == []
