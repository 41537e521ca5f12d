"""`Cache-Control: private, no-store` on every response that may carry a user's data.

Plans, conversations, exports and API answers must not be kept by a browser's disk cache (a shared
computer's next user, the back button after logging out) or by any cache between the user and us.
One middleware instead of a decorator per view, so that a view added later cannot forget it.

A response is private when the request came with a session cookie (someone who is, or was, signed
in), when it sets one (the login), or when it answers /api/. Reading the cookie rather than
`request.user` keeps this free of database queries, so it holds during a database outage too.
Responses that already say `no-store` (the admin's `never_cache`) are left alone; others get
`private, no-store` merged into what they say (the answer stream's `no-cache` stays).

Static files and /health, /ready answer before this middleware (WhiteNoise and the probe
middleware stand earlier in settings.MIDDLEWARE) and keep their own caching.
"""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control


def is_private(request: HttpRequest, response: HttpResponse) -> bool:
    cookie = settings.SESSION_COOKIE_NAME
    return request.path.startswith("/api/") or cookie in request.COOKIES or cookie in response.cookies


class PrivateCacheControlMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if is_private(request, response) and "no-store" not in response.get("Cache-Control", ""):
            patch_cache_control(response, private=True, no_store=True)
        return response
