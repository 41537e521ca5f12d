"""Joining and recovering an account in a real Chromium, with the mail read from a real SMTP
server on loopback: register, follow the link, sign in; forget the password, reset it; see the
lockout warning before a lockout."""

import pytest

from accounts.models import User
from toolkitrag.testing.browser import needs_chromium
from toolkitrag.testing.smtp_server import links, path_of

pytestmark = [pytest.mark.django_db(transaction=True), needs_chromium, pytest.mark.system]

NEW_PASSWORD = "plum-orchard-lantern-42"


@pytest.fixture(autouse=True)
def open_registration(settings):
    settings.REGISTRATION_MODE = "open"
    settings.RATE_LIMIT_ENABLED = False  # many sign-in posts from one address: not what is tested


def mailed_link(mailbox, index: int) -> str:
    (link,) = links(mailbox.messages[index])
    return path_of(link)


def test_register_by_mailed_link_then_reset_the_forgotten_password(page, mailbox):
    page.goto("/auth/login")
    page.click("text=Register")
    page.fill("#id_email", "Dana@Example.org")
    page.click("button[type=submit]")
    assert "Check your e-mail" in page.inner_text("h1")

    page.goto(mailed_link(mailbox, 0))
    assert "dana@example.org" in page.inner_text("main")
    page.fill("#id_new_password1", NEW_PASSWORD)
    page.fill("#id_new_password2", NEW_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/")
    assert "Your account is ready" in page.inner_text("body")
    assert User.objects.get(email="dana@example.org").is_active

    page.context.clear_cookies()  # a new visit, signed out
    page.goto("/auth/login")
    page.click("text=Forgot your password?")
    page.fill("#id_email", "dana@example.org")
    page.click("button[type=submit]")
    assert "Check your e-mail" in page.inner_text("h1")
    page.goto(mailed_link(mailbox, 1))
    page.fill("#id_new_password1", "quince-harbour-signal-7")
    page.fill("#id_new_password2", "quince-harbour-signal-7")
    page.click("button[type=submit]")
    assert "Your password is changed" in page.inner_text("h1")

    page.goto("/auth/login")
    page.fill("#id_username", "DANA@example.org")
    page.fill("#id_password", "quince-harbour-signal-7")
    page.click("button[type=submit]")
    page.wait_for_url("**/")
    assert "/auth/login" not in page.url


def test_login_page_warns_before_the_lockout(page, owner):
    for _ in range(3):
        page.goto("/auth/login")
        page.fill("#id_username", "owner")
        page.fill("#id_password", "not-the-password")
        page.click("button[type=submit]")
    warning = page.locator("[role=alert]", has_text="attempts left")
    assert warning.inner_text() == "2 attempts left before sign-in is locked for 30 minutes."
