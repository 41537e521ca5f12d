"""The request log through the real gunicorn of deploy/: a streamed answer's line is written after its
last byte (duration_ms) and says when the first one left (ttfb_ms); every line carries the client IP
as the app resolves it; every JSON line, gunicorn's own included, has an ISO-8601 time with offset."""

import json
import os
import re
import subprocess
import sys
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

import pytest

from toolkitrag.testing import REPO_ROOT
from toolkitrag.testing.gunicorn_stack import start_gunicorn, unit_command
from toolkitrag.testing.servers import child_database_url, free_port

pytestmark = pytest.mark.system  # starts gunicorn

ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$")
REPLY = "Every quarter, the treasurer reviews the budget with two trustees and the chair [1]."
TOKEN_DELAY = 0.05  # seconds the fake model waits before each token


@pytest.mark.django_db(transaction=True)
def test_streamed_answer_is_logged_to_its_last_byte_with_ttfb_and_client_ip(
    tmp_path, fake_openai, django_user_model
):
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    from toolkitrag.testing.toolkits import ingest_toolkit

    ingest_toolkit()
    user = django_user_model.objects.create_user("streamer", "streamer@example.org")
    user.password = PBKDF2PasswordHasher().encode("stream-password-123", "streamsalt12")  # the app's hasher
    user.save()
    fake_openai.chat_reply = lambda messages: REPLY
    fake_openai.token_delay = TOKEN_DELAY
    values = {
        "ENV": "dev",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": child_database_url(),
        "TRUSTED_PROXY_COUNT": "1",  # as behind the proxy: X-Real-IP is the client
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        "CHAT_BACKEND": "openai",
        "OPENAI_BASE_URL": fake_openai.base_url,
        "OPENAI_API_KEY": "stream-test",
        "EMBEDDING_BACKEND": "none",
        "GUNICORN_BIND": f"127.0.0.1:{free_port()}",
        "GUNICORN_WORKERS": "1",
        "GUNICORN_THREADS": "4",
    }
    app = start_gunicorn(values, tmp_path)
    try:
        jar = CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        page = opener.open(app.url + "/auth/login").read().decode()
        token = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
        form = {"csrfmiddlewaretoken": token, "username": "streamer", "password": "stream-password-123"}
        opener.open(
            urllib.request.Request(app.url + "/auth/login", data=urllib.parse.urlencode(form).encode())
        )
        csrf = next(cookie.value for cookie in jar if cookie.name == "csrftoken")
        request = urllib.request.Request(
            app.url + "/api/rag/answer/stream",
            data=json.dumps({"query": "How often is the budget reviewed?"}).encode(),
            headers={
                "Content-Type": "application/json",
                "X-CSRFToken": csrf,
                "X-Real-IP": "203.0.113.9",
                "X-Request-ID": "stream-1",
            },
        )
        with opener.open(request) as response:
            body = response.read().decode()
        tokens = body.count("event: token\n")
        assert "event: final" in body and tokens >= 10
    finally:
        app.stop()

    lines = app.json_lines()
    (line,) = [line for line in lines if line.get("request_id") == "stream-1"]
    assert (line["path"], line["status"], line["level"]) == ("/api/rag/answer/stream", 200, "INFO")
    assert line["client_ip"] == "203.0.113.9"
    assert line["user_id"] == user.pk
    assert 0 <= line["ttfb_ms"] <= line["duration_ms"]
    # The model itself waited TOKEN_DELAY before each token: the stream cannot have taken less.
    # (A lower bound only: a busy machine makes it longer, never shorter.)
    assert line["duration_ms"] >= tokens * TOKEN_DELAY * 1000

    # Requests without the proxy's header are logged with the peer's address.
    login_lines = [line for line in lines if line.get("path") == "/auth/login"]
    assert login_lines and {line["client_ip"] for line in login_lines} == {"127.0.0.1"}
    # Every line has an ISO-8601 time with its offset, gunicorn's own ("Booting worker") included.
    assert any(line["logger"] == "gunicorn.error" for line in lines)
    assert [line["time"] for line in lines if not ISO_TIME.match(line["time"])] == []


@pytest.mark.django_db(transaction=True)
def test_worker_log_lines_have_iso_times(tmp_path):
    # The worker unit's command (with --batch: process what is queued, then exit).
    command = [*unit_command("toolkitrag-worker.service"), "--batch", "--no-startup-delay"]
    env = {
        **{key: value for key, value in os.environ.items() if key not in ("ENV", "DEBUG")},
        "DATABASE_URL": child_database_url(),
        "TASKS_BACKEND": "database",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
    }
    assert command[0] == sys.executable or command[0].startswith(sys.prefix)
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = [
        json.loads(line) for line in (result.stdout + result.stderr).splitlines() if line.startswith("{")
    ]
    assert any("Starting worker" in line["message"] for line in lines)
    assert all(ISO_TIME.match(line["time"]) for line in lines)


def _stream_through_the_middleware(content):
    from django.http import StreamingHttpResponse
    from django.test import RequestFactory

    from toolkitrag.request_logging import RequestLogMiddleware

    middleware = RequestLogMiddleware(lambda request: StreamingHttpResponse(content))
    return middleware(RequestFactory().get("/api/rag/answer/stream", HTTP_X_REQUEST_ID="cut-1"))


def test_a_stream_the_client_leaves_is_logged_once_when_the_server_closes_it(caplog):
    def events():
        yield b"event: start\n\n"
        yield b"event: token\n\n"  # never sent: the client is gone

    with caplog.at_level("INFO", logger="toolkitrag.request"):
        response = _stream_through_the_middleware(events())
        chunks = iter(response)
        next(chunks)
        assert caplog.records == []  # not before the stream ends
        response.close()  # what gunicorn does when the connection breaks
        response.close()
    (record,) = caplog.records
    assert (record.request_id, record.status) == ("cut-1", 200)
    assert record.ttfb_ms <= record.duration_ms


def test_a_stream_that_fails_midway_is_logged_as_an_error(caplog):
    def events():
        yield b"event: start\n\n"
        raise RuntimeError("the model went away")

    with caplog.at_level("INFO", logger="toolkitrag.request"):
        response = _stream_through_the_middleware(events())
        with pytest.raises(RuntimeError):
            list(response)
        response.close()
    (record,) = caplog.records
    assert (record.levelname, record.status, record.request_id) == ("ERROR", 500, "cut-1")
