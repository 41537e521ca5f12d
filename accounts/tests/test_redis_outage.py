"""Redis (the cache behind rate limits) unreachable: the documented CACHE_FAILURE_POLICY holds.

open (default): every request is served without rate limits and each failed cache call is
logged; login lockouts still hold (django-axes keeps them in PostgreSQL). closed: the
rate-limited views answer 503 with Retry-After until Redis is back; everything else works.
"""

import json
import logging

import pytest
from django.test import Client
from django.urls import reverse

from toolkitrag.testing import PASSWORD

pytestmark = pytest.mark.django_db

REFUSED = "redis://127.0.0.1:1/0"  # nothing listens there


@pytest.fixture
def redis_down(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REFUSED,
            "OPTIONS": {"IGNORE_EXCEPTIONS": True, "SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
        }
    }
    settings.DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
    settings.DJANGO_REDIS_LOGGER = "toolkitrag.cache"
    settings.RATE_LIMIT_ENABLED = True
    settings.RATE_LIMIT_AUTH_REQUESTS = 2
    settings.RATE_LIMIT_RAG_REQUESTS = 2


def login(client, password):
    return client.post(reverse("login"), {"username": "owner", "password": password})


def ask(client):
    body = json.dumps({"query": "How often is the budget reviewed?"})
    return client.post("/api/rag/answer", body, content_type="application/json")


def test_open_policy_serves_without_limits_and_logs_each_failure(
    redis_down, settings, owner, toolkit_document, caplog
):
    settings.RATELIMIT_FAIL_OPEN = True
    caplog.set_level(logging.ERROR, logger="toolkitrag.cache")
    for _ in range(4):  # twice the limit
        assert login(Client(), PASSWORD).status_code == 302
    client = Client()
    client.force_login(owner)
    for _ in range(4):
        response = ask(client)
        assert response.status_code == 200 and response.json()["answered"]
    assert any("Exception ignored" in r.message for r in caplog.records)
    ready = Client().get("/ready")
    assert ready.status_code == 200
    assert "cache (Redis) unreachable" in ready.json()["warnings"][0]
    assert "rate limits are not enforced" in ready.json()["warnings"][0]


def test_open_policy_keeps_login_lockouts(redis_down, settings, owner):
    settings.RATELIMIT_FAIL_OPEN = True
    client = Client()
    for _ in range(4):
        assert login(client, "wrong").status_code == 200
    assert login(client, "wrong").status_code == 429  # the 5th failure locks, as with Redis up
    locked = login(client, PASSWORD)  # the right password, after 5 failures: still locked
    assert locked.status_code == 429 and "_auth_user_id" not in client.session


def test_closed_policy_answers_503_on_rate_limited_views_only(redis_down, settings, owner, toolkit_document):
    settings.RATELIMIT_FAIL_OPEN = False
    response = login(Client(), PASSWORD)
    assert response.status_code == 503 and response["Retry-After"] == "60"
    assert "briefly unavailable" in response.content.decode()
    client = Client()
    client.force_login(owner)
    response = ask(client)
    assert response.status_code == 503 and "briefly unavailable" in response.json()["error"]
    assert client.get(reverse("toolkit-chat")).status_code == 200  # the rest works
    assert Client().get(reverse("login")).status_code == 200
    assert "rate-limited views answer 503" in Client().get("/ready").json()["warnings"][0]
