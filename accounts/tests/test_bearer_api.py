"""`Authorization: Bearer <token>` on /api/rag/ and /api/plans/ (accounts/bearer_auth.py).

Every API route is found from the URL resolver, so a route added later is covered too."""

import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from accounts.api_tokens import issue_token, revoke_token
from accounts.bearer_auth import TOKEN_PATHS
from accounts.models import ApiToken
from strategies.models import PlanItem, StrategyPlan
from toolkitrag.testing.toolkits import answered, ingest_toolkit
from toolkitrag.testing.url_sweep import all_routes, fill

pytestmark = pytest.mark.django_db

METHODS = ("get", "post", "put", "patch", "delete")


def bearer(plaintext: str, **kwargs) -> Client:
    """A client that sends the token and enforces CSRF as a browser's would be enforced."""
    return Client(enforce_csrf_checks=True, headers={"Authorization": f"Bearer {plaintext}"}, **kwargs)


def api_routes() -> list[str]:
    routes = [route for route, _ in all_routes() if ("/" + route).startswith(TOKEN_PATHS)]
    assert len(routes) >= 11, routes
    return routes


def send(client: Client, method: str, url: str, body: dict | None = None):
    if method == "get":
        response = client.get(url)
    else:
        response = getattr(client, method)(url, json.dumps(body or {}), content_type="application/json")
    if response.streaming:
        response.body = b"".join(response.streaming_content)  # the stream writes as it is read
    else:
        response.body = response.content
    return response


def send_and_undo(client: Client, method: str, url: str, body: dict | None = None):
    """Send, then roll back what the call wrote, so each call meets the same plan and conversation."""
    with transaction.atomic():
        response = send(client, method, url, body)
        transaction.set_rollback(True)
    return response


@pytest.fixture
def world(owner):
    ingest_toolkit()
    message = answered(owner)
    plan = StrategyPlan.objects.create(owner=owner, title="Plan", summary="Summary")
    item = PlanItem.objects.create(plan=plan, position=0, kind="goal", text="Goal")
    _, plaintext = issue_token(owner, "script")
    values = {"conversation_id": message.conversation_id, "message_id": message.pk, "plan_id": plan.pk,
              "item_id": item.pk}  # fmt: skip
    bodies = {  # a valid body per route for the writing methods; a route added later gets {}
        "api/rag/answer": {"query": "How often is the budget reviewed?"},
        "api/rag/answer/stream": {"query": "How often is the budget reviewed?"},
        "api/rag/conversations/<int:conversation_id>": {"title": "Renamed"},
        "api/rag/messages/<int:message_id>/feedback": {"rating": "up"},
        "api/plans/": {"title": "New plan"},
        "api/plans/<int:plan_id>/": {"title": "Renamed"},
        "api/plans/<int:plan_id>/items/": {"kind": "goal", "text": "New goal"},
        "api/plans/<int:plan_id>/items/order": {"item_ids": [item.pk]},
        "api/plans/<int:plan_id>/items/<int:item_id>/": {"text": "Changed"},
    }
    return {"plaintext": plaintext, "values": values, "bodies": bodies, "plan": plan, "message": message}


def test_a_token_works_on_every_api_route_and_method_without_csrf_like_the_session(owner, world):
    token_client = bearer(world["plaintext"])
    session_client = Client()  # CSRF is not what this compares (the next test checks it)
    session_client.force_login(owner)
    checked = 0
    for route in api_routes():
        url = fill(route, world["values"])
        succeeded = []
        for method in METHODS:
            body = world["bodies"].get(route, {})
            by_token = send_and_undo(token_client, method, url, body)
            by_session = send_and_undo(session_client, method, url, body)
            context = (
                f"{method.upper()} {url}: token {by_token.status_code}, session {by_session.status_code}"
            )
            assert by_token.status_code not in (401, 403), context
            assert by_token.status_code == by_session.status_code, context
            assert "csrf" not in by_token.body.decode().lower(), context
            if by_token.status_code < 300:
                succeeded.append(method)
            checked += 1
        assert succeeded, f"no method of {url} succeeded with a token"
    assert checked == len(api_routes()) * len(METHODS)


def test_the_session_still_needs_its_csrf_token(owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = client.post("/api/plans/", json.dumps({"title": "x"}), content_type="application/json")
    assert response.status_code == 403
    assert not StrategyPlan.objects.exists()


def test_a_token_writes_as_its_user(owner, world):
    response = send(bearer(world["plaintext"]), "post", "/api/plans/", {"title": "Made by a script"})
    assert response.status_code == 201
    assert StrategyPlan.objects.get(title="Made by a script").owner == owner
    assert ApiToken.objects.get().last_used_at is not None


def test_a_token_cannot_reach_another_users_plans_or_conversations(second_user, world):
    _, plaintext = issue_token(second_user, "theirs")
    client = bearer(plaintext)
    for route in api_routes():
        if "<" not in route:
            continue
        url = fill(route, world["values"])
        for method in METHODS:
            response = send_and_undo(client, method, url, world["bodies"].get(route, {}))
            assert response.status_code in (404, 405), f"{method.upper()} {url}: {response.status_code}"
    listed = send(client, "get", "/api/plans/").body.decode()
    listed += send(client, "get", "/api/rag/conversations").body.decode()
    assert "Plan" not in listed and str(world["message"].conversation_id) not in listed


def refused(response, message: str) -> None:
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert message in json.loads(response.content)["error"]


@pytest.mark.parametrize(
    "header, message",
    [("Bearer garbage", "malformed"), ("Bearer ", "malformed"),
     ("bearer tkr_0123abcd_" + "0" * 64, "not valid"),  # the scheme's name is case-insensitive
     ("Bearer tkr_0123abcd_" + "0" * 64 + " extra", "malformed")],
)  # fmt: skip
def test_bad_tokens_are_401_with_a_reason(owner, header, message):
    for url in ("/api/rag/conversations", "/api/plans/"):
        refused(Client(headers={"Authorization": header}).get(url), message)


def test_revoked_expired_prefixless_and_disabled_tokens_are_401(owner, world):
    plaintext = world["plaintext"]
    refused(bearer(plaintext.split("_")[2]).get("/api/plans/"), "malformed")
    token = ApiToken.objects.get()
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    refused(bearer(plaintext).get("/api/plans/"), "expired")
    revoke_token(owner, token.pk)
    refused(bearer(plaintext).get("/api/plans/"), "revoked")
    _, live = issue_token(owner, "live")
    owner.is_active = False
    owner.save()
    refused(bearer(live).post("/api/plans/", "{}", content_type="application/json"), "disabled")
    assert StrategyPlan.objects.count() == 1  # the world's plan only


def test_a_bad_token_never_falls_back_to_the_session(owner, world):
    client = Client()
    client.force_login(owner)
    assert client.get("/api/plans/").status_code == 200
    refused(client.get("/api/plans/", headers={"Authorization": "Bearer garbage"}), "malformed")


def test_a_good_token_is_its_user_even_with_someone_elses_session(owner, second_user, world):
    client = bearer(world["plaintext"])
    client.force_login(second_user)
    plans = json.loads(send(client, "get", "/api/plans/").body)["plans"]
    assert [plan["title"] for plan in plans] == ["Plan"]  # the owner's, not the second user's


def test_bearer_is_ignored_outside_the_token_api(owner, world):
    client = bearer(world["plaintext"])
    for url in ("/toolkit", "/strategies", f"/strategies/{world['plan'].pk}", "/auth/account", "/admin/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert "login" in response["Location"], url
    # A garbage token on a page is not an error either: the header is simply not read there.
    assert Client(headers={"Authorization": "Bearer garbage"}).get("/auth/login").status_code == 200
    # Another scheme on the API is not a token: the call is anonymous, as before.
    basic = Client(headers={"Authorization": "Basic b3duZXI6eA=="}).get("/api/plans/")
    assert basic.status_code == 401 and "WWW-Authenticate" not in basic


def test_a_token_user_shares_the_per_user_rag_limit_with_their_browser(
    owner, second_user, world, settings, rate_window
):
    settings.RATE_LIMIT_RAG_REQUESTS = 3
    rate_window(f"user:{owner.pk}")
    token_client = bearer(world["plaintext"])
    session_client = Client()
    session_client.force_login(owner)
    body = {"query": "How often is the budget reviewed?"}
    assert send(token_client, "post", "/api/rag/answer", body).status_code == 200
    assert send(session_client, "post", "/api/rag/answer", body).status_code == 200
    assert send(token_client, "post", "/api/rag/answer/stream", body).status_code == 200
    limited = send(token_client, "post", "/api/rag/answer", body)
    assert limited.status_code == 429 and "Try again in" in json.loads(limited.body)["error"]
    assert send(session_client, "post", "/api/rag/answer", body).status_code == 429
    _, other = issue_token(second_user, "theirs")  # another user's token has its own count
    assert send(bearer(other), "post", "/api/rag/answer", body).status_code == 200


def test_a_token_never_lifts_csrf_outside_the_token_api(owner, world):
    """With a session and a valid token, every state-changing request to every other URL still
    needs its CSRF token: the header is read on /api/rag/ and /api/plans/ only."""
    client = bearer(world["plaintext"])
    client.force_login(owner)
    client.get("/toolkit")  # the CSRF cookie is set, as in a browser; only the token is missing
    refused = 0
    for route, _ in all_routes():
        url = fill(route, {**world["values"], "chunk_id": 1, "extension": "md", "object_id": 1, "id": 1,
                           "feedback_id": 1, "token_id": 1, "token": "x", "uidb64": "x", "content_type_id": 1,
                           "app_label": "rag", "url": "x/", "version_id": 1, "run_id": 1})  # fmt: skip
        if url.startswith(TOKEN_PATHS) or url in ("/health", "/ready"):
            continue
        response = client.post(url, {"name": "x", "title": "x"})
        assert response.status_code == 403, f"POST {url} -> {response.status_code}"
        refused += 1
    assert refused > 100
    assert not ApiToken.objects.filter(name="x").exists()


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(
    value=st.one_of(
        st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=200),
        st.from_regex(r"tkr_[0-9a-f]{8}_[0-9a-f]{64}", fullmatch=True),  # well formed, unknown
    )
)
def test_any_bearer_value_is_a_401_and_never_a_user(owner, value):
    """Whatever follows "Bearer " (Latin-1, as HTTP headers arrive in WSGI), a token that was never
    issued is a clean 401: no 500, no user, nothing written."""
    response = Client().post(
        "/api/plans/", json.dumps({"title": "x"}), content_type="application/json",
        headers={"Authorization": f"Bearer {value}"},
    )  # fmt: skip
    assert response.status_code == 401, value
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert not StrategyPlan.objects.exists()
