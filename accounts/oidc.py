"""Single sign-on with the organisation's OpenID Connect provider, through mozilla-django-oidc.

mozilla-django-oidc does the protocol (state, nonce, PKCE, code exchange, the ID token's RS256
signature against the provider's JWKS, userinfo); this module adds what it leaves to us:
- endpoints discovered from OIDC_ISSUER when first needed, so a provider that is down at boot
  costs the SSO button a clear error page, not the site its start;
- the ID token's issuer and audience checked too (the library skips both);
- the account rules of accounts/sso_accounts.py, with their refusals shown to the person;
- the login page's button and "SSO only" switch (sso_context).

The SSO button is a link (a GET), so the site's CSP `form-action 'self'` does not apply to the
redirect to the provider; the provider's pages carry their own policy.
"""

import logging
import time
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.generic import View
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from accounts.models import User
from accounts.sso_accounts import SsoRefused, user_for_claims

logger = logging.getLogger(__name__)

DISCOVERY_TIMEOUT = 5  # seconds; the person is waiting on the button
DISCOVERY_MAX_AGE = 3600  # seconds a discovered configuration is used before it is fetched again
NEEDED_ENDPOINTS = ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri")

_discovered: dict[str, tuple[dict, float]] = {}  # issuer -> (configuration, when fetched)


class ProviderUnavailable(Exception):
    """The provider's configuration could not be had: down, unreachable or not an OIDC provider."""


def provider_configuration(issuer: str) -> dict:
    """The provider's OpenID configuration (its endpoints), fetched once an hour per process."""
    cached = _discovered.get(issuer)
    if cached and time.monotonic() - cached[1] < DISCOVERY_MAX_AGE:
        return cached[0]
    url = issuer + "/.well-known/openid-configuration"
    try:
        response = requests.get(url, timeout=DISCOVERY_TIMEOUT)
        response.raise_for_status()
        configuration = response.json()
    except (requests.RequestException, ValueError) as error:
        raise ProviderUnavailable(f"{url}: {error}") from error
    if not isinstance(configuration, dict) or str(configuration.get("issuer", "")).rstrip("/") != issuer:
        # OpenID Connect Discovery 1.0, 4.3: the document must name the issuer it was fetched for.
        raise ProviderUnavailable(f"{url} names another issuer: {configuration.get('issuer')!r}")
    missing = [name for name in NEEDED_ENDPOINTS if not configuration.get(name)]
    if missing:
        raise ProviderUnavailable(f"{url} lacks {', '.join(missing)}")
    _discovered[issuer] = (configuration, time.monotonic())
    return configuration


def sso_context(request: HttpRequest) -> dict:
    """Template context processor: whether the SSO button shows, its label, and "SSO only"."""
    return {
        "sso": {
            "enabled": settings.SSO_ENABLED,
            "label": settings.OIDC_BUTTON_LABEL,
            "only": settings.SSO_ENABLED and settings.OIDC_SSO_ONLY,
        }
    }


def is_sso_attempt(request: HttpRequest, credentials: dict | None = None) -> bool:
    """AXES_WHITELIST_CALLABLE: django-axes counts failed password logins, and an SSO sign-in
    that fails (refused, provider away) is no password guess; counted, a few of them would lock
    every SSO sign-in from that address out. Passwords are typed at the provider, which guards them.
    Only the callback passes a nonce to authenticate()."""
    return bool(credentials) and "nonce" in credentials and not credentials.get("password")


def _failure_page(request: HttpRequest, message: str, status: int) -> HttpResponse:
    return render(request, "accounts/sso_failed.html", {"message": message}, status=status)


def _unavailable_message() -> str:
    message = f"Sign-in with {settings.OIDC_BUTTON_LABEL} is unavailable: the identity provider "
    message += f"({urlsplit(settings.OIDC_ISSUER).netloc}) did not answer. Try again in a minute"
    return message + ("." if settings.OIDC_SSO_ONLY else ", or log in with your password.")


class SsoBackend(OIDCAuthenticationBackend):
    """Authentication backend for the callback (the only caller that passes a nonce); for every
    other authenticate() call, password logins included, it answers None at once."""

    def __init__(self, *args, **kwargs) -> None:
        # Not the parent's __init__: it reads the endpoints from settings, and Django builds a
        # backend for every request of a signed-in SSO user (get_user), when SSO may be off or the
        # provider away. The endpoints are set in authenticate().
        self.UserModel = get_user_model()
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = settings.OIDC_RP_SIGN_ALGO
        self.OIDC_RP_IDP_SIGN_KEY = None

    def get_user(self, user_id):
        # The parent's get_user returns disabled accounts too: a user disabled after an SSO
        # sign-in must lose the session, as ModelBackend makes password users do.
        return ModelBackend().get_user(user_id)

    def authenticate(
        self,
        request: HttpRequest | None,
        nonce: str | None = None,
        code_verifier: str | None = None,
        **kwargs,
    ) -> User | None:
        if request is None or nonce is None or not settings.SSO_ENABLED:
            return None
        try:
            configuration = provider_configuration(settings.OIDC_ISSUER)
            self.OIDC_OP_TOKEN_ENDPOINT = configuration["token_endpoint"]
            self.OIDC_OP_USER_ENDPOINT = configuration["userinfo_endpoint"]
            self.OIDC_OP_JWKS_ENDPOINT = configuration["jwks_uri"]
            return super().authenticate(request, nonce=nonce, code_verifier=code_verifier)
        except SsoRefused as refusal:
            logger.info("SSO sign-in refused: %s", refusal)  # what the person was told, for support
            request.sso_error = str(refusal)
        except requests.HTTPError as error:
            # The provider answered but refused the code (used twice, expired, wrong client secret).
            logger.warning("SSO sign-in failed: the identity provider refused: %s", error)
            request.sso_error = "The identity provider did not complete the sign-in. Start again; if this "
            request.sso_error += "happens again, ask an administrator (the server's log says why)."
        except (ProviderUnavailable, requests.RequestException) as error:
            logger.warning("SSO sign-in failed: the identity provider did not answer: %s", error)
            request.sso_error = _unavailable_message()
        except SuspiciousOperation as error:
            logger.warning("SSO sign-in refused: %s", error)
            request.sso_error = "The identity provider's answer could not be verified. Start again."
        return None

    def verify_token(self, token: str, **kwargs) -> dict:
        payload = super().verify_token(token, **kwargs)
        if "nonce" in kwargs:  # the ID token (a userinfo JWT has no nonce to check)
            audience = payload.get("aud")
            audiences = [audience] if isinstance(audience, str) else list(audience or [])
            if str(payload.get("iss", "")).rstrip("/") != settings.OIDC_ISSUER:
                raise SuspiciousOperation(f"ID token from another issuer: {payload.get('iss')!r}")
            if self.OIDC_RP_CLIENT_ID not in audiences:
                raise SuspiciousOperation(f"ID token for another client: {audience!r}")
        return payload

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict) -> User:
        userinfo = self.get_userinfo(access_token, id_token, payload)
        if str(userinfo.get("sub")) != str(payload.get("sub")):
            # OpenID Connect Core 1.0, 5.3.2: userinfo of another subject must not be used.
            raise SuspiciousOperation("userinfo is about another subject than the ID token")
        # Some providers (Entra ID) put the groups claim in the ID token only: both count.
        return user_for_claims(settings.OIDC_ISSUER, {**payload, **userinfo})


class SsoStartView(OIDCAuthenticationRequestView):
    """GET /auth/sso/start: off to the provider's login page (with state, nonce and PKCE)."""

    def __init__(self, **kwargs) -> None:
        View.__init__(self, **kwargs)  # not the parent's: it reads the endpoint from settings
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID

    def get(self, request: HttpRequest) -> HttpResponse:
        if not settings.SSO_ENABLED:
            raise Http404
        try:
            self.OIDC_OP_AUTH_ENDPOINT = provider_configuration(settings.OIDC_ISSUER)[
                "authorization_endpoint"
            ]
        except ProviderUnavailable as error:
            logger.warning("SSO sign-in unavailable: %s", error)
            return _failure_page(request, _unavailable_message(), status=503)
        return super().get(request)


class SsoCallbackView(OIDCAuthenticationCallbackView):
    """GET /auth/sso/callback: the provider sends the browser back here with a code (or an error)."""

    def get(self, request: HttpRequest) -> HttpResponse:
        if not settings.SSO_ENABLED:
            raise Http404
        try:
            return super().get(request)
        except SuspiciousOperation:
            # A state this browser never started: an old tab, a link used twice, or a forgery.
            request.sso_error = "This sign-in link has expired or was used already. Start again."
            return self.login_failure()

    def login_failure(self) -> HttpResponse:
        request = self.request
        if getattr(request, "sso_error", None):
            return _failure_page(request, request.sso_error, status=403)
        if request.GET.get("error"):
            # The provider said no (the person cancelled, or is not allowed to use ToolkitRAG).
            detail = request.GET.get("error_description") or request.GET["error"]
            message = f"The identity provider did not sign you in: {detail[:200]}"
            return _failure_page(request, message, status=403)
        if "state" in request.GET:
            message = "This sign-in link has expired or was used already. Start again."
        else:
            message = "This page is where the identity provider sends you back after signing in. Start again."
        return _failure_page(request, message, status=400)
