"""GET /health and /ready answered by a short stack of their own, before the main one.

Load balancers, systemd and the validation script probe them every few seconds, over plain HTTP on
127.0.0.1 with whatever Host header their tool sends (curl sends `127.0.0.1:8000`). The main stack
would refuse that Host (DisallowedHost, 400) when ALLOWED_HOSTS names only the public domain, so
probes skip it: Host validation protects URLs built from the Host header, and these two answers
build none. Every other path still goes through the whole stack and its Host check.

The short stack keeps what matters to a probe's answer: the same security headers as every other
response (Security, CSP, X-Frame-Options middleware), and for /ready the request log (a failing
/ready is logged; a passing one at DEBUG). /health skips the log, sessions, CSRF and axes: it touches
nothing, and bench/health.py measured /health at 0.44 times the requests of a bare Django
hello-world through the whole stack, 0.86 answered here (docs/benchmarks.md).
"""

from django.http import HttpRequest, HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware

from toolkitrag.request_logging import RequestLogMiddleware
from toolkitrag.security_headers import ContentSecurityPolicyMiddleware
from toolkitrag.views import health, ready


def _with_security_headers(view):
    """`view` wrapped in the header middlewares of settings.MIDDLEWARE, in the same order."""
    return SecurityMiddleware(ContentSecurityPolicyMiddleware(XFrameOptionsMiddleware(view)))


class HealthProbeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.probes = {
            "/health": _with_security_headers(health),
            "/ready": RequestLogMiddleware(_with_security_headers(ready)),
        }

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = self.probes.get(request.path_info)
        if probe is not None:
            return probe(request)
        return self.get_response(request)
