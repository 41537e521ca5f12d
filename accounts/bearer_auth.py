"""`Authorization: Bearer <token>` on the JSON API (/api/rag/, /api/plans/), for scripts.

Placed after AuthenticationMiddleware. On those paths, a request that carries a Bearer header is
the token's user and nobody else: a bad, expired or revoked token is a 401, never the session
cookie that may come with it. Such a request is exempt from CSRF: CSRF protects cookies a browser
sends by itself, and a browser never adds an Authorization header on its own. Django's
CsrfViewMiddleware checks `_dont_enforce_csrf_checks` in process_view, which runs after every
middleware's request phase, so setting it here is in time.

Elsewhere (pages, the admin) the header is ignored: a token is for the API only, and a stolen one
must not open the account page where tokens are made.
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from accounts.api_tokens import TokenRefused, authenticate_token

TOKEN_PATHS = ("/api/rag/", "/api/plans/")


def bearer_token(request: HttpRequest) -> str | None:
    """The token of an `Authorization: Bearer` header ("" if the header has none), or None if
    there is no such header (the scheme's name is case-insensitive, RFC 9110 §11.1)."""
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()


def unauthorized(message: str) -> JsonResponse:
    response = JsonResponse({"error": message}, status=401)
    response["WWW-Authenticate"] = 'Bearer realm="api", error="invalid_token"'
    return response


class BearerTokenMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(TOKEN_PATHS):
            plaintext = bearer_token(request)
            if plaintext is not None:
                try:
                    token = authenticate_token(plaintext)
                except TokenRefused as refused:
                    return unauthorized(str(refused))
                request.user = token.user
                request._cached_user = token.user  # where the request log looks for it
                request._acached_user = token.user  # what request.auser() returns
                request.api_token = token
                request._dont_enforce_csrf_checks = True
        return self.get_response(request)
