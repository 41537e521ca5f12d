"""One log line per request, and the request id on every log line written while serving it.

The id comes from the proxy's X-Request-ID when it looks like one (so a request can be traced
from Nginx/Caddy logs into ours), otherwise a fresh one; it is echoed in the response header.
Bodies, query strings and headers are never logged: they can carry passwords and tokens.

A streamed response (the chat's Server-Sent Events) is logged when its last byte has been handed
to the server, not when the view returns: `duration_ms` covers the whole stream and `ttfb_ms`
says when its first piece was ready. For other responses the two are the same.
"""

import logging
import re
import time
import uuid
from collections.abc import Iterator
from contextvars import ContextVar

from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse

from accounts.client_ip import client_ip

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


class DisallowedHostFilter(logging.Filter):
    """Django logs a Host header outside ALLOWED_HOSTS at ERROR with a traceback. The request is
    refused (400) and nothing on our side is broken: keep the one-line message as a WARNING."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


class _TimedStream:
    """Passes a streamed body through and logs the request once it ends, however it ends: the
    last chunk sent, an exception, or the server closing it (client gone). A class rather than a
    generator because a generator that never started runs no `finally` when closed."""

    def __init__(self, content: Iterator[bytes], finish) -> None:
        self._content = iter(content)
        self._finish = finish
        self._first_byte: float | None = None
        self._done = False

    def __iter__(self) -> "_TimedStream":
        return self

    def __next__(self) -> bytes:
        try:
            chunk = next(self._content)
        except StopIteration:
            self.close()
            raise
        except Exception:
            self.close(failed=True)
            raise
        if self._first_byte is None:
            self._first_byte = time.perf_counter()
        return chunk

    def close(self, failed: bool = False) -> None:
        if not self._done:
            self._done = True
            self._finish(self._first_byte, failed)


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
            # Files (static, downloads) are sent by the server itself (sendfile); wrapping their
            # content would turn that off, so they are logged now, like a plain response.
            if isinstance(response, StreamingHttpResponse) and not isinstance(response, FileResponse):
                self._log_when_streamed(request, response, started)
            else:
                self._log(request, response.status_code, started)
            return response
        except Exception:
            self._log(request, 500, started)
            raise
        finally:
            current_request_id.reset(token)

    def _log_when_streamed(
        self, request: HttpRequest, response: StreamingHttpResponse, started: float
    ) -> None:
        def finish(first_byte: float | None, failed: bool) -> None:
            status = 500 if failed else response.status_code
            self._log(request, status, started, first_byte=first_byte)

        # Django closes what it was given as streaming content when the server closes the
        # response (gunicorn does, after the last byte or a broken connection).
        response.streaming_content = _TimedStream(response.streaming_content, finish)

    def _log(
        self, request: HttpRequest, status: int, started: float, first_byte: float | None = None
    ) -> None:
        # Only a user the request already loaded: looking one up here would query the database,
        # which may be the very thing that just failed.
        user = getattr(request, "_cached_user", None)
        quiet = request.path in _QUIET_PATHS and status < 400
        level = logging.DEBUG if quiet else (logging.ERROR if status >= 500 else logging.INFO)
        ended = time.perf_counter()
        duration_ms = round((ended - started) * 1000, 1)
        ttfb_ms = round(((first_byte or ended) - started) * 1000, 1)
        logger.log(
            level,
            "%s %s %s %sms",
            request.method,
            request.path,
            status,
            duration_ms,
            extra={
                # Given explicitly: a stream ends after the middleware has reset the context.
                "request_id": request.request_id,
                "method": request.method,
                "path": request.path,
                "status": status,
                "duration_ms": duration_ms,
                "ttfb_ms": ttfb_ms,
                "client_ip": client_ip(request),
                "user_id": user.pk if user is not None and user.is_authenticated else None,
            },
        )
