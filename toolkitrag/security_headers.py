"""Content-Security-Policy on every response (Django 5.2 has no built-in CSP).

The app's pages load scripts and styles only from /static/ and use no inline code, so a
strict policy costs nothing and stops HTML smuggled in through a document or a model answer
from running.
"""

from django.conf import settings
from django.http import HttpRequest, HttpResponse


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        return response
