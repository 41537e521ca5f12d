import json
import urllib.error
import urllib.request

import pytest
from django.db import connection


def test_health_answers_ok_without_touching_the_database(client):
    # No django_db mark: pytest-django makes any database access here raise.
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_ready_answers_ok_when_database_vector_and_migrations_are_fine(client):
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_ready_reports_missing_vector_extension(client):
    from django.db import transaction

    with transaction.atomic():
        sid = transaction.savepoint()
        with connection.cursor() as cursor:
            cursor.execute("DROP EXTENSION vector CASCADE")  # rolled back below
        response = client.get("/ready")
        transaction.savepoint_rollback(sid)
    assert response.status_code == 503
    assert "pgvector" in response.json()["reasons"][0]


@pytest.mark.django_db
def test_ready_reports_pending_migrations(client):
    from django.core.management import call_command
    from django.db import transaction

    with transaction.atomic():
        sid = transaction.savepoint()
        call_command("migrate", "sessions", "zero", verbosity=0)
        response = client.get("/ready")
        transaction.savepoint_rollback(sid)
    assert response.status_code == 503
    assert response.json()["reasons"] == ["1 migration(s) pending (run manage.py migrate)"]


def test_health_and_ready_are_not_rate_limited_or_logged_at_info(client, caplog, settings):
    settings.RATE_LIMIT_ENABLED = True
    with caplog.at_level("INFO", logger="toolkitrag.request"):
        for _ in range(30):
            assert client.get("/health").status_code == 200
    assert [r for r in caplog.records if r.levelname == "INFO"] == []


@pytest.mark.system
def test_ready_answers_503_with_a_reason_when_the_database_is_unreachable(start_app_server):
    app = start_app_server({"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/toolkitrag"})
    assert urllib.request.urlopen(app.url + "/health").status == 200
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(app.url + "/ready")
    assert error.value.code == 503
    body = json.loads(error.value.read())
    assert body["status"] == "unavailable"
    assert body["reasons"][0].startswith("database unreachable")


def test_health_is_answered_before_the_middleware_stack(client):
    response = client.get("/health")
    assert response.json() == {"status": "ok"}
    assert "X-Request-ID" not in response  # the request log did not run
    # ...but the security headers did, as on every other response.
    assert response["Content-Security-Policy"] and response["X-Frame-Options"] == "DENY"
    assert client.post("/health").status_code == 405  # still GET only
    assert "Content-Security-Policy" in client.get("/no-such-page")  # everything else: the full stack
