"""Sessions: a new key at login (no fixation), logout deletes the session on the server. CSRF:
every state-changing request to every URL of the project, without a token, is refused with
403 and changes nothing, for a signed-in user and for a superuser."""

import json

import pytest
from django.contrib.sessions.models import Session
from django.test import Client

from toolkitrag.testing import PASSWORD
from toolkitrag.testing.url_sweep import all_routes, fill
from toolkitrag.tests.test_access_sweep import snapshot

pytestmark = pytest.mark.django_db


def test_login_rotates_the_session_key(client, owner):
    session = client.session
    session["before-login"] = "planted"  # e.g. a key an attacker fixed in the victim's browser
    session.save()
    planted = session.session_key
    client.cookies["sessionid"] = planted
    response = client.post("/auth/login", {"username": "owner", "password": PASSWORD})
    assert response.status_code == 302
    assert client.cookies["sessionid"].value != planted
    assert not Session.objects.filter(session_key=planted).exists()


def test_logout_ends_the_session_on_the_server(client, owner):
    client.post("/auth/login", {"username": "owner", "password": PASSWORD})
    key = client.cookies["sessionid"].value
    assert Session.objects.filter(session_key=key).exists()
    client.post("/auth/logout")
    assert not Session.objects.filter(session_key=key).exists()
    replay = Client()
    replay.cookies["sessionid"] = key  # a copied cookie is worth nothing after logout
    assert replay.get("/toolkit").status_code == 302
    assert replay.get("/api/rag/conversations").status_code == 401


@pytest.mark.parametrize("who", ["owner", "superuser"])
def test_every_state_changing_request_without_a_csrf_token_is_refused(
    who, owner, django_user_model, first_users_data
):
    data = first_users_data
    user = (
        owner if who == "owner" else django_user_model.objects.create_superuser("root", "r@example.org", "x")
    )
    before = snapshot(owner)
    # One signed-in client for the whole sweep: a refused request changes nothing, so the session
    # survives it (even a logout), and the last check below proves that it did.
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/toolkit")  # the CSRF cookie is set, as in a browser; only the token is missing
    body = json.dumps({"title": "x", "query": "x", "rating": "down"})
    refused = 0
    for route, _ in all_routes():
        url = fill(route, data["url_values"])
        for method in ("post", "put", "patch", "delete"):
            response = getattr(client, method)(url, body, content_type="application/json")
            if url in ("/health", "/ready"):  # probes: answered before the main stack, GET only
                assert response.status_code == 405
                continue
            assert response.status_code == 403, f"{method.upper()} {url} -> {response.status_code}"
            refused += 1
    assert refused > 400
    assert snapshot(owner) == before
    assert client.get("/toolkit").status_code == 200  # still signed in: every request ran as `user`
