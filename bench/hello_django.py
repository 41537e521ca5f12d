"""A bare Django hello-world: one module that is its own settings, URLconf and WSGI app.

bench/health.py serves it under the same gunicorn configuration as ToolkitRAG, as the baseline
for /health throughput (no middleware, no apps, no database).
"""

from django.core.wsgi import get_wsgi_application
from django.http import JsonResponse
from django.urls import path

SECRET_KEY = "bench-only-not-secret"  # noqa: S105 - a throwaway process on 127.0.0.1
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = __name__
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
DATABASES: dict = {}


def hello(request):
    return JsonResponse({"status": "ok"})


urlpatterns = [path("health", hello)]
application = get_wsgi_application()
