"""A request that finds the database gone gets a 503 that says so (and when to retry), not a 500.

PostgreSQL restarts, fails over or is briefly unreachable; the connection pool reconnects by
itself once it is back, so the app needs no restart. Meanwhile /ready answers 503 too.
"""

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse

from toolkitrag.views import service_unavailable

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


class DatabaseOutageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        logger.warning("database unavailable: %s", (str(exception).strip() or type(exception).__name__)[:200])
        message = "The database is unavailable for a moment. Please try again in a few seconds."
        return service_unavailable(request, message, RETRY_AFTER_SECONDS)
