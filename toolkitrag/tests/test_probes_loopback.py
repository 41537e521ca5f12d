"""/health and /ready answer a loopback probe whatever its Host header, through the real gunicorn of
deploy/, with ALLOWED_HOSTS naming only the public domain (as on a server built by DEPLOY.md), and
log no error; any other path with a bad Host is still refused, with a WARNING and no traceback."""

import json
import logging

import pytest

from toolkitrag.testing.gunicorn_stack import get, production_values, start_gunicorn
from toolkitrag.testing.servers import REDIS_URL, child_database_url, free_port, redis_available

pytestmark = pytest.mark.system  # starts gunicorn

SECURITY_HEADERS = {
    "Content-Security-Policy",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
}


@pytest.fixture
def production_app(db, tmp_path):
    if not redis_available():
        pytest.skip(f"needs Redis at {REDIS_URL} for the production cache")
    values = production_values(free_port(), child_database_url(), REDIS_URL)
    app = start_gunicorn(values, tmp_path)
    yield app
    app.stop()


def test_probes_answer_on_loopback_whatever_the_host_and_other_paths_are_refused(production_app):
    app = production_app
    for host in (None, "127.0.0.1", "localhost:8000", "scanner.invalid"):
        headers = {"Host": host} if host else {}  # None: urllib sends 127.0.0.1:<port>, as curl does
        status, response_headers, body = get(app.url + "/ready", headers)
        assert (status, json.loads(body)) == (200, {"status": "ok"}), host
        assert response_headers.keys() >= SECURITY_HEADERS
        status, response_headers, body = get(app.url + "/health", headers)
        assert (status, json.loads(body)) == (200, {"status": "ok"}), host
        assert response_headers.keys() >= SECURITY_HEADERS
        assert "Strict-Transport-Security" not in response_headers  # plain HTTP: no HSTS

    # Through the proxy (HTTPS said by a trusted local proxy), /health gets HSTS like any page.
    status, response_headers, _ = get(
        app.url + "/health", {"Host": "toolkit.example.org", "X-Forwarded-Proto": "https"}
    )
    assert status == 200 and response_headers["Strict-Transport-Security"].startswith("max-age=31536000")

    # Everything else still checks the Host header.
    assert get(app.url + "/auth/login", {"Host": "scanner.invalid"})[0] == 400
    assert get(app.url + "/api/plans/", {"Host": "scanner.invalid"})[0] == 400
    # ...and lets the public name through (401: the API wants a login; pages would want collectstatic).
    status, _, _ = get(app.url + "/api/plans/", {"Host": "toolkit.example.org", "X-Forwarded-Proto": "https"})
    assert status == 401
    app.stop()

    lines = app.json_lines()
    assert [line for line in lines if line["level"] in ("ERROR", "CRITICAL")] == []
    assert "Traceback" not in app.log()
    refused = [line for line in lines if line["logger"] == "django.security.DisallowedHost"]
    assert len(refused) == 2
    assert all(line["level"] == "WARNING" and "scanner.invalid" in line["message"] for line in refused)


def test_ready_reports_a_broken_database_to_a_loopback_probe(tmp_path):
    # No Redis needed: ENV=dev with the production's ALLOWED_HOSTS and no DEBUG.
    values = {
        "ENV": "dev",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "toolkit.example.org",
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/toolkitrag",
        "DATABASE_POOL_TIMEOUT": "1",
        "LOG_FORMAT": "json",
        "GUNICORN_BIND": f"127.0.0.1:{free_port()}",
        "GUNICORN_WORKERS": "1",
        "GUNICORN_THREADS": "4",
    }
    app = start_gunicorn(values, tmp_path)
    try:
        status, _, body = get(app.url + "/ready")
        assert status == 503
        assert json.loads(body)["reasons"][0].startswith("database unreachable")
    finally:
        app.stop()
    # A failing probe is worth an error line: the request log says which probe and why it failed.
    (line,) = [line for line in app.json_lines() if line.get("path") == "/ready"]
    assert (line["level"], line["status"]) == ("ERROR", 503)


def test_disallowed_host_is_a_warning_without_traceback(client, settings, caplog):
    settings.ALLOWED_HOSTS = ["toolkit.example.org"]
    with caplog.at_level(logging.INFO):
        assert client.get("/auth/login", HTTP_HOST="scanner.invalid").status_code == 400
        assert client.get("/health", HTTP_HOST="scanner.invalid").status_code == 200
    (record,) = [r for r in caplog.records if r.name == "django.security.DisallowedHost"]
    assert record.levelname == "WARNING"
    assert record.exc_info is None
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
