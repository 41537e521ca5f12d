"""One log line per request, and the request id on every log line written while serving it.

The id comes from the proxy's X-Request-ID when it looks like one (so a request can be traced
from Nginx/Caddy logs into ours), otherwise a fresh one; it is echoed in the response header.
Bodies, query strings and headers are never logged: they can carry passwords and tokens.
"""

import logging
import re
import time
import uuid
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse

logger = logging.getLogger("toolkitrag.request")

current_request_id: ContextVar[str] = ContextVar("request_id", default="-")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Probes hit these every few seconds; a success is not worth an INFO line.
_QUIET_PATHS = ("/health", "/ready")


class RequestContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id.get()
        return True


class RequestLogMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        offered = request.headers.get("X-Request-ID", "")
        request_id = offered if _REQUEST_ID.match(offered) else uuid.uuid4().hex
        request.request_id = request_id
        token = current_request_id.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            self._log(request, response.status_code, started)
            return response
        except Exception:
            self._log(request, 500, started)
            raise
        finally:
            current_request_id.reset(token)

    def _log(self, request: HttpRequest, status: int, started: float) -> None:
        # Only a user the request already loaded: looking one up here would query the database,
        # which may be the very thing that just failed.
        user = getattr(request, "_cached_user", None)
        quiet = request.path in _QUIET_PATHS and status < 400
        level = logging.DEBUG if quiet else (logging.ERROR if status >= 500 else logging.INFO)
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        logger.log(
            level,
            "%s %s %s %sms",
            request.method,
            request.path,
            status,
            duration_ms,
            extra={
                "method": request.method,
                "path": request.path,
                "status": status,
                "duration_ms": duration_ms,
                "user_id": user.pk if user is not None and user.is_authenticated else None,
            },
        )
