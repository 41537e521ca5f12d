"""The SSO pages without a provider (or with one that is down or wrong): the login page's button,
"SSO only", and every way the start and callback URLs can fail, each a clear page and never a 500.
Signing in through a real provider is test_sso_browser.py."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest

from accounts import invitations, registration
from accounts.models import Invitation
from accounts.oidc import ProviderUnavailable, SsoBackend, provider_configuration
from toolkitrag.testing import PASSWORD

pytestmark = pytest.mark.django_db

DEAD_ISSUER = "http://127.0.0.1:9/realms/staff"  # the discard port: connection refused at once


@pytest.fixture
def sso_on(settings):
    settings.OIDC_ISSUER = DEAD_ISSUER
    settings.SSO_ENABLED = True
    settings.OIDC_RP_CLIENT_ID = "toolkitrag"
    settings.OIDC_RP_CLIENT_SECRET = "secret"
    settings.OIDC_BUTTON_LABEL = "Example IdP"
    settings.OIDC_SSO_ONLY = False
    return settings


def test_without_sso_the_login_page_has_no_button_and_the_sso_urls_do_not_exist(client):
    page = client.get("/auth/login").content.decode()
    assert 'id="sso-login"' not in page and 'id="id_password"' in page
    assert client.get("/auth/sso/start").status_code == 404
    assert client.get("/auth/sso/callback?code=x&state=y").status_code == 404


def test_with_sso_the_login_page_offers_the_button_beside_the_password_form(client, sso_on):
    page = client.get("/auth/login?next=/toolkit/chat").content.decode()
    assert "Sign in with Example IdP" in page
    assert 'href="/auth/sso/start?next=/toolkit/chat"' in page
    assert 'id="id_password"' in page and 'href="/auth/register"' in page


def test_a_provider_that_is_down_gives_the_button_a_clear_503_and_passwords_still_work(client, sso_on, owner):
    response = client.get("/auth/sso/start")
    assert response.status_code == 503
    page = response.content.decode()
    assert "Sign-in with Example IdP is unavailable" in page and "127.0.0.1:9" in page
    assert "log in with your password" in page
    response = client.post("/auth/login", {"username": "owner", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"


def test_sso_only_removes_the_password_form_registration_and_password_logins(client, sso_on, owner):
    sso_on.OIDC_SSO_ONLY = True
    page = client.get("/auth/login").content.decode()
    assert 'id="id_password"' not in page and "Sign in with Example IdP" in page
    assert 'href="/admin/login/"' in page and 'href="/auth/register"' not in page
    assert 'href="/auth/register"' not in client.get("/").content.decode()  # nor on the home page

    response = client.post("/auth/login", {"username": "owner", "password": PASSWORD})
    assert response.status_code == 403 and "Passwords are turned off" in response.content.decode()
    assert "_auth_user_id" not in client.session

    response = client.get("/auth/register")
    assert response.status_code == 200 and 'id="id_password1"' not in response.content.decode()
    posted = {"username": "new", "email": "new@example.org", "password1": PASSWORD, "password2": PASSWORD}
    assert client.post("/auth/register", posted).status_code == 403
    assert not type(owner).objects.filter(username="new").exists()


def test_sso_only_also_closes_sign_up_links_and_invitations_sent_before(client, sso_on, owner):
    sso_on.OIDC_SSO_ONLY = True
    invitation = Invitation(email="invited@example.org")
    invitation_token = invitations.new_token(invitation)
    invitation.save()
    passwords = {"new_password1": PASSWORD, "new_password2": PASSWORD}
    for url in (
        f"/auth/register/{registration.signup_token('linked@example.org')}",
        f"/auth/invite/{invitation_token}",
    ):
        assert 'id="id_new_password1"' not in client.get(url).content.decode()
        assert client.post(url, passwords).status_code == 403
    assert not type(owner).objects.filter(email__in=["linked@example.org", "invited@example.org"]).exists()


def test_a_user_disabled_after_an_sso_sign_in_loses_the_session(owner):
    assert SsoBackend().get_user(owner.pk) == owner
    owner.is_active = False
    owner.save()
    assert SsoBackend().get_user(owner.pk) is None


def test_sso_only_still_lets_staff_in_with_a_password_at_the_admin(client, sso_on, staff_user, owner):
    sso_on.OIDC_SSO_ONLY = True
    response = client.post("/admin/login/", {"username": "staff", "password": PASSWORD, "next": "/admin/"})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    other = type(client)()
    response = other.post("/admin/login/", {"username": "owner", "password": PASSWORD, "next": "/admin/"})
    assert response.status_code == 200 and "_auth_user_id" not in other.session  # not staff: refused


@pytest.mark.parametrize(
    "query, status, says",
    [
        ("", 400, "where the identity provider sends you back"),
        ("?code=abc&state=never-started", 400, "expired or was used already"),
        (
            "?error=access_denied&error_description=Not+in+the+ToolkitRAG+group",
            403,
            "Not in the ToolkitRAG group",
        ),
        ("?error=access_denied", 403, "did not sign you in: access_denied"),
    ],
)
def test_the_callback_explains_every_failure(client, sso_on, query, status, says):
    response = client.get("/auth/sso/callback" + query)
    assert response.status_code == status
    assert says in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_state_this_browser_did_not_start_is_refused(client, sso_on):
    session = client.session
    session["oidc_states"] = {"mine": {"nonce": "n", "code_verifier": "v", "added_on": 0}}
    session.save()
    response = client.get("/auth/sso/callback?code=abc&state=forged")
    assert response.status_code == 403 and "expired or was used already" in response.content.decode()


def test_a_code_the_provider_cannot_be_reached_for_is_a_clear_error(client, sso_on):
    session = client.session
    session["oidc_states"] = {"mine": {"nonce": "n", "code_verifier": "v", "added_on": 0}}
    session.save()
    response = client.get("/auth/sso/callback?code=abc&state=mine")
    assert response.status_code == 403
    assert "Sign-in with Example IdP is unavailable" in response.content.decode()
    response = client.get("/auth/sso/callback?code=abc&state=mine")  # a state is good for one try
    assert response.status_code == 403 and "expired or was used already" in response.content.decode()


def test_failed_sso_sign_ins_do_not_count_towards_a_password_lockout(client, sso_on, settings):
    from axes.models import AccessAttempt

    for n in range(settings.AXES_FAILURE_LIMIT + 1):
        session = client.session
        session["oidc_states"] = {f"state-{n}": {"nonce": "n", "code_verifier": "v", "added_on": 0}}
        session.save()
        response = client.get(f"/auth/sso/callback?code=abc&state=state-{n}")
        assert "is unavailable" in response.content.decode()  # not the lockout page
    assert not AccessAttempt.objects.exists()


class _Discovery(BaseHTTPRequestHandler):
    document: dict = {}

    def do_GET(self):
        body = json.dumps(self.document).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def discovery_server():
    """A loopback HTTP server answering every GET with _Discovery.document."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Discovery)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_discovery_accepts_only_the_configured_issuer_with_every_endpoint(discovery_server):
    issuer = discovery_server + "/realms/staff"
    endpoints = {name: issuer + "/" + name for name in ("authorization", "token", "userinfo", "jwks")}
    complete = {
        "authorization_endpoint": endpoints["authorization"],
        "token_endpoint": endpoints["token"],
        "userinfo_endpoint": endpoints["userinfo"],
        "jwks_uri": endpoints["jwks"],
    }
    _Discovery.document = {**complete, "issuer": "https://evil.example.org"}
    with pytest.raises(ProviderUnavailable, match="names another issuer"):
        provider_configuration(issuer)
    _Discovery.document = {"issuer": issuer, "authorization_endpoint": endpoints["authorization"]}
    with pytest.raises(ProviderUnavailable, match="lacks token_endpoint, userinfo_endpoint, jwks_uri"):
        provider_configuration(issuer)
    _Discovery.document = {**complete, "issuer": issuer + "/"}  # a trailing slash is the same issuer
    assert provider_configuration(issuer)["token_endpoint"] == endpoints["token"]


def test_the_start_page_sends_the_browser_to_the_provider_with_state_nonce_and_pkce(
    client, sso_on, discovery_server
):
    issuer = discovery_server + "/realms/staff"
    sso_on.OIDC_ISSUER = issuer
    _Discovery.document = {
        "issuer": issuer,
        "authorization_endpoint": issuer + "/auth",
        "token_endpoint": issuer + "/token",
        "userinfo_endpoint": issuer + "/userinfo",
        "jwks_uri": issuer + "/jwks",
    }
    response = client.get("/auth/sso/start?next=/toolkit/chat")
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(issuer + "/auth?")
    for part in (
        "response_type=code",
        "client_id=toolkitrag",
        "code_challenge_method=S256",
        "nonce=",
        "state=",
    ):
        assert part in location
    assert "redirect_uri=http%3A%2F%2Ftestserver%2Fauth%2Fsso%2Fcallback" in location
    assert "scope=openid+email+profile" in location
    assert client.session["oidc_login_next"] == "/toolkit/chat"


@pytest.mark.parametrize("signed_in", [False, True])
@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete"])
@pytest.mark.parametrize(
    "url", ["/auth/sso/start", "/auth/sso/callback", "/auth/sso/callback?code=x&state=y"]
)
def test_the_sso_urls_answer_every_method_without_a_server_error(
    client, sso_on, owner, signed_in, method, url
):
    if signed_in:
        client.force_login(owner)
    response = getattr(client, method)(url)
    assert response.status_code in ((400, 403, 503) if method == "get" else (405,))
    assert owner.email not in response.content.decode()


def test_id_tokens_from_another_issuer_or_for_another_client_are_refused(sso_on, discovery_server):
    """The library checks the signature (against the JWKS) and the nonce; ToolkitRAG adds `iss` and
    `aud`. The tokens here are signed by a key whose public half a loopback JWKS serves."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from django.core.exceptions import SuspiciousOperation

    from accounts.oidc import SsoBackend

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    _Discovery.document = {"keys": [{**public, "kid": "k1", "alg": "RS256", "use": "sig"}]}
    backend = SsoBackend()
    backend.OIDC_OP_JWKS_ENDPOINT = discovery_server + "/jwks"

    def id_token(signed_by=key, **claims) -> str:
        claims = {"iss": DEAD_ISSUER, "aud": ["toolkitrag"], "sub": "42", "nonce": "n1", **claims}
        return jwt.encode(claims, signed_by, algorithm="RS256", headers={"kid": "k1"})

    assert backend.verify_token(id_token(), nonce="n1")["sub"] == "42"
    with pytest.raises(SuspiciousOperation, match="another issuer"):
        backend.verify_token(id_token(iss="https://idp.evil.example"), nonce="n1")
    with pytest.raises(SuspiciousOperation, match="another client"):
        backend.verify_token(id_token(aud="some-other-app"), nonce="n1")
    with pytest.raises(SuspiciousOperation, match="Nonce"):
        backend.verify_token(id_token(), nonce="another-sign-in")
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(SuspiciousOperation, match="verification failed"):
        backend.verify_token(id_token(signed_by=stranger), nonce="n1")
