"""`Cache-Control: private, no-store` on every response to a signed-in user and on every /api/
response, from one middleware (toolkitrag/cache_control.py): swept over every URL pattern, so a
view added later is checked without anyone listing it. /health, /ready and static files keep
their own caching."""

import json

import pytest
from django.test import Client, override_settings

from toolkitrag.testing.url_sweep import all_routes, fill

pytestmark = pytest.mark.django_db


def private(response) -> bool:
    directives = {part.strip().split("=")[0] for part in response.get("Cache-Control", "").split(",")}
    return {"private", "no-store"} <= directives


def test_every_page_and_api_answer_to_a_signed_in_user_is_private_no_store(owner, first_users_data):
    routes = [route for route, _ in all_routes()]
    assert len(routes) > 100 and "strategies/<int:plan_id>/export.<str:extension>" in routes
    client = Client()
    client.force_login(owner)
    checked = []
    for route in routes:
        if route in ("auth/logout", "admin/logout/"):  # a GET would end the session for the rest
            continue
        url = fill(route, first_users_data["url_values"])
        response = client.get(url)
        if response.streaming:
            b"".join(response.streaming_content)
        assert response.status_code < 500, url
        assert private(response), f"GET {url} -> {response.status_code}: {response.get('Cache-Control')!r}"
        checked.append(url)
    assert "/toolkit" in checked and f"/strategies/{first_users_data['plan'].pk}/export.md" in checked


def test_api_answers_are_private_even_to_anonymous_callers_and_errors(client, owner, first_users_data):
    assert private(client.get("/api/plans/"))  # 401
    client.force_login(owner)
    bad = client.post("/api/plans/", data="{", content_type="application/json")
    assert bad.status_code == 400 and private(bad)
    created = client.post("/api/plans/", data=json.dumps({"title": "New"}), content_type="application/json")
    assert created.status_code == 201 and private(created)


def test_the_answer_stream_keeps_no_cache_and_is_private_no_store(client, owner, first_users_data):
    client.force_login(owner)
    body = json.dumps({"query": "How often is the budget reviewed?"})
    response = client.post("/api/rag/answer/stream", data=body, content_type="application/json")
    b"".join(response.streaming_content)
    assert response.status_code == 200 and private(response)
    assert "no-cache" in response["Cache-Control"]


def test_login_response_that_sets_the_session_is_private(client, owner):
    from toolkitrag.testing import PASSWORD

    response = client.post("/auth/login", {"username": "owner", "password": PASSWORD})
    assert response.status_code == 302 and private(response)


@override_settings(WHITENOISE_USE_FINDERS=True, WHITENOISE_AUTOREFRESH=True)
def test_static_files_and_probes_keep_their_own_caching(owner):
    client = Client()
    client.force_login(owner)
    static = client.get("/static/css/app.css")
    assert static.status_code == 200 and "no-store" not in static.get("Cache-Control", "")
    for probe in ("/health", "/ready"):
        response = client.get(probe)
        # never_cache's own header, set by the probe views before any other middleware runs
        assert response.status_code == 200 and "must-revalidate" in response["Cache-Control"], probe
