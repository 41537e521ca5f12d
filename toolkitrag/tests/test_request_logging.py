import json
import logging
import urllib.error
import urllib.request

import pytest

from toolkitrag.request_logging import RequestContextFilter

FIELDS = {"time", "level", "request_id", "method", "path", "status", "duration_ms", "user_id"}


def json_formatter() -> logging.Formatter:
    from django.conf import settings
    from django.utils.module_loading import import_string

    config = dict(settings.LOGGING["formatters"]["json"])
    return import_string(config.pop("()"))(**config)


@pytest.mark.django_db
def test_request_log_line_has_every_field(client, owner, caplog):
    client.force_login(owner)
    with caplog.at_level("INFO", logger="toolkitrag.request"):
        response = client.get("/toolkit", HTTP_X_REQUEST_ID="trace-abc.123")
    assert response["X-Request-ID"] == "trace-abc.123"
    (record,) = [r for r in caplog.records if r.name == "toolkitrag.request"]
    RequestContextFilter().filter(record)
    line = json.loads(json_formatter().format(record))
    assert line.keys() >= FIELDS
    assert line["request_id"] == "trace-abc.123"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/toolkit", 200)
    assert line["user_id"] == owner.pk
    assert line["level"] == "INFO"
    assert isinstance(line["duration_ms"], float)


def test_unsafe_request_id_is_replaced_by_a_generated_one(client):
    response = client.get("/no-such-page", HTTP_X_REQUEST_ID="evil\nINFO forged line")
    assert response["X-Request-ID"] != "evil\nINFO forged line"
    assert len(response["X-Request-ID"]) == 32


@pytest.mark.system
def test_gunicorn_writes_one_json_line_per_request_without_secrets(start_app_server):
    # An unreachable database: the 404 page and /health need none, and logging must still work.
    app = start_app_server({"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/x", "LOG_FORMAT": "json"})
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(
            urllib.request.Request(app.url + "/no-such-page?token=s3cr3t", headers={"X-Request-ID": "req-42"})
        )
    app.process.terminate()
    app.process.wait(10)
    lines = [json.loads(line) for line in app.log().splitlines() if line.startswith("{")]
    (request_line,) = [line for line in lines if line.get("path") == "/no-such-page"]
    assert request_line.keys() >= FIELDS
    assert request_line["request_id"] == "req-42"
    assert request_line["status"] == 404
    assert request_line["user_id"] is None
    assert "s3cr3t" not in app.log()
