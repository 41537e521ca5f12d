"""GET /health answered before the rest of the middleware (sessions, CSRF, axes, headers).

Load balancers and systemd probe it every few seconds; it touches nothing, so it skips work that
cannot matter to it. bench/health.py: with the whole stack /health served 0.44 times the requests
of a bare Django hello-world; answered here, see docs/benchmarks.md. It still gets a request id
and a (DEBUG) log line from RequestLogMiddleware, which runs before this one.
"""

from django.http import HttpRequest, HttpResponse

from toolkitrag.views import health


class HealthProbeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == "/health":
            return health(request)
        return self.get_response(request)
