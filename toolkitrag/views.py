from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from toolkitrag.readiness import readiness_problems, readiness_warnings


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Liveness: the process serves requests. Touches nothing else, the database included."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    """Readiness: safe to send traffic here (database, pgvector, migrations)."""
    problems = readiness_problems()
    warnings = readiness_warnings()
    if problems:
        return JsonResponse({"status": "unavailable", "reasons": problems, "warnings": warnings}, status=503)
    return JsonResponse({"status": "ok", **({"warnings": warnings} if warnings else {})})


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: JSON for the API, the explanatory page for browsers."""
    if request.path.startswith("/api/"):
        return JsonResponse({"error": "CSRF check failed: reload the page and try again."}, status=403)
    return render(request, "403_csrf.html", status=403)


def service_unavailable(request: HttpRequest, message: str, retry_after: int) -> HttpResponse:
    """503 with Retry-After, as JSON for the API. Its page is standalone: base.html would ask the
    database who the user is, and the database may be what is missing."""
    if request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", ""):
        response = JsonResponse({"error": message}, status=503)
    else:
        response = render(request, "503.html", {"message": message}, status=503)
    response["Retry-After"] = str(retry_after)
    return response


def bad_request(request: HttpRequest, exception=None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"error": "Bad request."}, status=400)
    return HttpResponse("<h1>Bad request</h1>", status=400)


def page_not_found(request: HttpRequest, exception=None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"error": "Not found."}, status=404)
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"error": "Something went wrong on our side."}, status=500)
    return render(request, "500.html", status=500)
