"""Rate limits on views: a decorator over django-ratelimit that answers 429, not 403.

Counts live in the default cache, which is Redis in production so that every gunicorn worker
shares them. The 429 says when to retry, as a page for browsers and JSON for the API. When Redis
is down, CACHE_FAILURE_POLICY decides: serve without limits (open) or answer 503 (closed).
"""

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django_ratelimit.core import get_usage

from accounts.client_ip import client_ip
from toolkitrag.views import service_unavailable


def by_ip(group: str, request: HttpRequest) -> str:
    return client_ip(request)


def by_user_or_ip(group: str, request: HttpRequest) -> str:
    if request.user.is_authenticated:
        return f"user:{request.user.pk}"
    return f"ip:{client_ip(request)}"


def by_posted_email(group: str, request: HttpRequest) -> str:
    """The e-mail address a form was posted with: limits mail sent to one address."""
    return "email:" + request.POST.get("email", "").strip().lower()


def per_minute(setting_name: str) -> Callable[[str, HttpRequest], str]:
    """A rate read from settings on each request, so tests and operators can change it."""

    def rate(group: str, request: HttpRequest) -> str:
        return f"{getattr(settings, setting_name)}/m"

    return rate


def per_hour(setting_name: str) -> Callable[[str, HttpRequest], str]:
    def rate(group: str, request: HttpRequest) -> str:
        return f"{getattr(settings, setting_name)}/h"

    return rate


def too_many_requests(request: HttpRequest, retry_after: int) -> HttpResponse:
    retry_after = max(int(retry_after), 1)
    message = f"Too many requests. Try again in {retry_after} seconds."
    if request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", ""):
        response = JsonResponse({"error": message, "retry_after": retry_after}, status=429)
    else:
        response = render(request, "rate_limited.html", {"retry_after": retry_after}, status=429)
    response["Retry-After"] = str(retry_after)
    return response


def rate_limit(
    group: str,
    rate: Callable[[str, HttpRequest], str],
    key: Callable[[str, HttpRequest], str] = by_ip,
    methods: tuple[str, ...] = ("POST",),
) -> Callable:
    """Limit a view to `rate` requests per `key`; requests over it get a 429.

    Example: @rate_limit("rag-answer", per_minute("RATE_LIMIT_RAG_REQUESTS"), by_user_or_ip)
    """

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def limited_view(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if settings.RATE_LIMIT_ENABLED and request.method in methods:
                usage = get_usage(
                    request, group=group, key=key, rate=rate, method=list(methods), increment=True
                )
                if usage is not None and usage["limit"] == 0 and usage["time_left"] == -1:  # cache down
                    # CACHE_FAILURE_POLICY=closed
                    message = "This service is briefly unavailable. Please try again in a minute."
                    return service_unavailable(request, message, retry_after=60)
                if usage is not None and usage["should_limit"]:
                    return too_many_requests(request, usage["time_left"])
            return view(request, *args, **kwargs)

        return limited_view

    return decorator
