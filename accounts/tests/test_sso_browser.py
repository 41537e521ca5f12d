"""Single sign-on end to end: the app under gunicorn, a real OpenID Connect provider
(django-oauth-toolkit, toolkitrag/testing/oidc_provider/) under gunicorn, and Chromium going
through the whole redirect -> provider login -> code -> token -> userinfo -> back flow. No token
is made by the test: the provider signs them with a key the app only knows through its JWKS."""

from collections.abc import Callable, Iterator

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import Group
from django.db import connections

from accounts.models import SsoIdentity, User
from toolkitrag.testing import PASSWORD
from toolkitrag.testing.browser import CHROMIUM, CHROMIUM_ARGS, needs_chromium
from toolkitrag.testing.oidc import OidcProvider
from toolkitrag.testing.servers import AppServer, child_database_url

pytestmark = [pytest.mark.system, needs_chromium, pytest.mark.django_db(transaction=True)]

CLIENT_ID = "toolkitrag-under-test"
CLIENT_SECRET = "client-secret-of-the-test-provider-only"
GROUP_MAP = "readers-at-idp=Readers,finance-at-idp=Finance"


@pytest.fixture(scope="module")
def provider(tmp_path_factory) -> Iterator[OidcProvider]:
    started = OidcProvider(tmp_path_factory.mktemp("oidc-provider")).start()
    yield started
    started.stop()


@pytest.fixture
def sso_app(provider, start_app_server, tmp_path) -> Callable[..., AppServer]:
    """The app under gunicorn with SSO pointed at the provider, registered there as a client."""

    def start(**env: str) -> AppServer:
        secret_file = tmp_path / "oidc-client-secret"
        secret_file.write_text(CLIENT_SECRET + "\n")  # as an editor saves it: the newline is no part of it
        app = start_app_server(
            {
                "DATABASE_URL": child_database_url(),
                "OIDC_ISSUER": provider.issuer,
                "OIDC_CLIENT_ID": CLIENT_ID,
                "OIDC_CLIENT_SECRET_FILE": str(secret_file),
                "OIDC_GROUP_MAP": GROUP_MAP,
                "OIDC_BUTTON_LABEL": "Example IdP",
                **env,
            }
        )
        provider.register_client(CLIENT_ID, CLIENT_SECRET, app.url + "/auth/sso/callback")
        return app

    return start


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
        # While Playwright's loop runs, the test's ORM calls get their own connection (Django's
        # connections are per context): closed here, or the test database cannot be dropped.
        connections.close_all()


def sign_in_through_provider(browser, app: AppServer, provider: OidcProvider, username: str):
    """A fresh browser signs in with the SSO button and the provider's login form; returns its page."""
    page = browser.new_context().new_page()
    page.goto(app.url + "/auth/login")
    page.click("#sso-login")
    page.wait_for_url(provider.url + "/login/**")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("#provider-sign-in")
    page.wait_for_url(app.url + "/**")
    return page


def test_first_sso_sign_in_creates_the_account_with_its_groups_and_later_ones_update_them(
    browser, provider, sso_app
):
    groups = ["readers-at-idp", "finance-at-idp", "unmapped-at-idp"]
    provider.set_people({"jane": {"email": "Jane@Example.org", "email_verified": True, "groups": groups}})
    app = sso_app()

    page = sign_in_through_provider(browser, app, provider, "jane")
    assert page.url == app.url + "/"
    assert "Signed in as jane" in page.inner_text("header")
    jane = User.objects.get(email__iexact="jane@example.org")
    assert jane.username == "jane" and not jane.has_usable_password()
    assert set(jane.groups.values_list("name", flat=True)) == {"Readers", "Finance"}
    assert not Group.objects.filter(name="unmapped-at-idp").exists()
    identity = SsoIdentity.objects.get(user=jane)
    assert identity.issuer == provider.issuer and identity.last_login_at is not None

    # Local logout: the app's session ends (the provider's stays, as documented).
    page.click("header button:has-text('Log out')")
    page.goto(app.url + "/auth/login")
    assert page.locator("#sso-login").is_visible()

    # An administrator adds a group by hand; the provider drops Finance. The next sign-in finds
    # the same account by its subject, takes Finance away and leaves the hand-given group.
    jane.groups.add(Group.objects.create(name="Pilot users"))
    provider.set_people(
        {"jane": {"email": "jane@example.org", "email_verified": True, "groups": ["readers-at-idp"]}}
    )
    page = sign_in_through_provider(browser, app, provider, "jane")
    assert "Signed in as jane" in page.inner_text("header")
    assert User.objects.filter(email__iexact="jane@example.org").count() == 1
    assert set(jane.groups.values_list("name", flat=True)) == {"Readers", "Pilot users"}
    assert '"level": "ERROR"' not in app.log()


def test_a_verified_address_links_an_existing_account_and_an_unverified_one_cannot_take_it(
    browser, provider, sso_app
):
    owner = User.objects.create_user("owner", "owner@example.org", PASSWORD)
    provider.set_people(
        {
            "mallory": {"email": "OWNER@example.org", "email_verified": False, "groups": ["finance-at-idp"]},
            "owner-at-idp": {"email": "owner@example.org", "email_verified": True, "groups": []},
        }
    )
    app = sso_app()

    page = sign_in_through_provider(browser, app, provider, "mallory")
    assert page.url.startswith(app.url + "/auth/sso/callback")
    alert = page.inner_text("[role=alert]")
    assert "has not verified that this address is yours" in alert
    assert "Signed in as" not in page.inner_text("header")
    assert not SsoIdentity.objects.exists()
    assert not owner.groups.exists()

    page = sign_in_through_provider(browser, app, provider, "owner-at-idp")
    assert "Signed in as owner" in page.inner_text("header")
    assert SsoIdentity.objects.get().user == owner
    assert User.objects.count() == 1
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD)  # linking leaves the password as it was


def test_sso_only_shows_no_password_form_and_still_signs_in_through_the_provider(browser, provider, sso_app):
    provider.set_people({"sam": {"email": "sam@example.org", "email_verified": True, "groups": []}})
    app = sso_app(OIDC_SSO_ONLY="true")

    page = browser.new_context().new_page()
    page.goto(app.url + "/auth/login")
    assert page.locator("#id_password").count() == 0
    assert page.locator("header").get_by_text("Register").count() == 0
    assert page.get_by_role("link", name="sign in with a password").get_attribute("href") == "/admin/login/"
    page.goto(app.url + "/auth/register")
    assert page.locator("#id_password1").count() == 0

    page = sign_in_through_provider(browser, app, provider, "sam")
    assert "Signed in as sam" in page.inner_text("header")


def test_a_provider_down_when_the_app_starts_costs_only_the_button_until_it_is_back(
    browser, start_app_server, tmp_path
):
    late = OidcProvider(tmp_path)  # its port and issuer are fixed now; it starts later
    secret_file = tmp_path / "oidc-client-secret"
    secret_file.write_text(CLIENT_SECRET)
    # Hashed as the app under gunicorn hashes (this test process uses a fast MD5 hasher it lacks).
    hasher = PBKDF2PasswordHasher()
    owner = User.objects.create(username="owner", email="owner@example.org")
    User.objects.filter(pk=owner.pk).update(password=hasher.encode(PASSWORD, hasher.salt()))
    app = start_app_server(
        {
            "DATABASE_URL": child_database_url(),
            "OIDC_ISSUER": late.issuer,
            "OIDC_CLIENT_ID": CLIENT_ID,
            "OIDC_CLIENT_SECRET_FILE": str(secret_file),
            "OIDC_BUTTON_LABEL": "Example IdP",
        }
    )
    page = browser.new_context().new_page()
    page.goto(app.url + "/auth/login")
    page.click("#sso-login")
    assert "Sign-in with Example IdP is unavailable" in page.inner_text("[role=alert]")
    page.goto(app.url + "/auth/login")  # the password still works meanwhile
    page.fill("#id_username", "owner")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(app.url + "/")
    assert "Signed in as owner" in page.inner_text("header")

    late.start()  # the provider is back: no restart of the app needed
    try:
        late.register_client(CLIENT_ID, CLIENT_SECRET, app.url + "/auth/sso/callback")
        late.set_people(
            {"owner-at-idp": {"email": "owner@example.org", "email_verified": True, "groups": []}}
        )
        page = sign_in_through_provider(browser, app, late, "owner-at-idp")
        assert "Signed in as owner" in page.inner_text("header")
        assert SsoIdentity.objects.get().user == owner
    finally:
        late.stop()
