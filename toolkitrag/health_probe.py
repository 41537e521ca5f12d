"""GET /health answered before any other middleware (request log, headers, sessions, CSRF, axes).

Load balancers and systemd probe it every few seconds; it touches nothing, so it skips work that
cannot matter to it, the request log included (probes were logged at DEBUG only anyway).
bench/health.py: through the whole stack /health served 0.44 times the requests of a bare Django
hello-world under the same gunicorn; answered here, 0.86 (docs/benchmarks.md).
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
