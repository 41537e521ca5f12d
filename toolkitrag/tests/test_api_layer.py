"""The JSON-API layer (toolkitrag/api.py), and regression tests for issue 18 §5: a lone surrogate
("\\ud800x" is valid JSON but not valid Unicode) or a NUL reached psycopg and was a 500 on each of
these endpoints. Now each is a 400 that names the field, and nothing is written."""

import json

import pytest
from django.test import Client

from rag.models import Conversation, Feedback, Message
from strategies.models import PlanItem, StrategyPlan
from toolkitrag.api import BadRequest, Schema
from toolkitrag.testing.toolkits import answered, ingest_toolkit
from toolkitrag.testing.url_sweep import all_routes

pytestmark = pytest.mark.django_db

SURROGATE = "\ud800x"
NUL = "budget\x00"


@pytest.fixture
def world(owner):
    ingest_toolkit()
    client = Client()
    client.force_login(owner)
    message = answered(owner)
    Conversation.objects.filter(pk=message.conversation_id).update(title="Budget")
    plan = StrategyPlan.objects.create(owner=owner, title="Plan", summary="Summary")
    item = PlanItem.objects.create(plan=plan, position=0, kind="goal", text="Goal")
    return {"client": client, "message": message, "plan": plan, "item": item}


def send(client: Client, method: str, url: str, body: dict):
    response = getattr(client, method)(url, json.dumps(body), content_type="application/json")
    if response.streaming:
        b"".join(response.streaming_content)
    return response


def snapshot() -> tuple:
    """Everything these endpoints could write."""
    return (
        list(Message.objects.values_list("pk", "query")),
        list(Conversation.objects.values_list("pk", "title")),
        list(Feedback.objects.values_list("pk", "comment")),
        list(StrategyPlan.objects.values_list("pk", "title", "summary", "status")),
        list(PlanItem.objects.values_list("pk", "text", "owner_name", "status")),
    )


def cases(world) -> list[tuple[str, str, str, dict]]:
    """(method, url, field, other fields of a valid body) for every endpoint named in the issue."""
    m, p, i = world["message"], world["plan"], world["item"]
    return [
        ("post", "/api/rag/answer", "query", {}),
        ("post", "/api/rag/answer/stream", "query", {}),
        ("post", "/api/plans/", "title", {}),
        ("post", "/api/plans/", "summary", {"title": "New plan"}),
        ("patch", f"/api/plans/{p.pk}/", "title", {}),
        ("patch", f"/api/plans/{p.pk}/", "summary", {}),
        ("put", f"/api/plans/{p.pk}/", "summary", {"title": "Plan"}),
        ("post", f"/api/plans/{p.pk}/items/", "text", {"kind": "goal"}),
        ("post", f"/api/plans/{p.pk}/items/", "owner_name", {"kind": "action", "text": "Do it"}),
        ("post", f"/api/plans/{p.pk}/items/", "text", {"message_id": m.pk}),
        ("patch", f"/api/plans/{p.pk}/items/{i.pk}/", "text", {}),
        ("patch", f"/api/plans/{p.pk}/items/{i.pk}/", "due_date", {}),
        ("post", f"/api/rag/messages/{m.pk}/feedback", "comment", {"rating": "down"}),
        ("patch", f"/api/rag/conversations/{m.conversation_id}", "title", {}),
    ]


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (SURROGATE, "is not valid Unicode (it contains a lone surrogate, such as \\ud800)."),
        (NUL, "must not contain NUL characters."),
    ],
    ids=["lone-surrogate", "nul"],
)
def test_unstorable_text_in_any_field_is_a_400_and_writes_nothing(world, bad, error):
    before = snapshot()
    for method, url, field, rest in cases(world):
        response = send(world["client"], method, url, {**rest, field: bad})
        assert response.status_code == 400, (method, url, field, response.content[:300])
        assert response.json() == {"error": f"'{field}' {error}"}, (method, url, field)
    assert snapshot() == before


def test_unstorable_text_nested_or_in_a_field_name_is_a_400(world):
    client, plan = world["client"], world["plan"]
    url = f"/api/plans/{plan.pk}/items/"
    response = send(client, "post", url, {"kind": "goal", "text": "x", "chunk_ids": [1, {"a": [SURROGATE]}]})
    assert response.json() == {
        "error": "'chunk_ids' is not valid Unicode (it contains a lone surrogate, such as \\ud800)."
    }
    response = send(client, "post", url, {"kind": "goal", "text": "x", "te\x00xt": "y"})
    assert response.json() == {"error": "A field name must not contain NUL characters."}
    response = client.post(url, json.dumps([SURROGATE]), content_type="application/json")
    assert response.status_code == 400 and "The request body is not valid Unicode" in response.json()["error"]
    assert plan.items.count() == 1


def test_the_plan_search_api_refuses_a_nul_in_the_query_string(world):
    client = world["client"]
    for query in ("q=%00", "q=budget%00plan", "status=%00", "%00=x", "q=ok&q=%00"):
        response = client.get(f"/api/plans/?{query}")
        assert response.status_code == 400, query
        assert "must not contain NUL characters" in response.json()["error"], query
    assert client.get("/api/plans/?q=plan").json()["plans"][0]["title"] == "Plan"
    # Percent-encoded surrogate bytes are not UTF-8: Django decodes them as U+FFFD, a plain search.
    assert client.get("/api/plans/?q=%ED%A0%80").json() == {"plans": []}


def test_every_api_endpoint_checks_the_query_string(world):
    client, plan = world["client"], world["plan"]
    for url in ("/api/rag/conversations", f"/api/plans/{plan.pk}/", f"/api/plans/{plan.pk}/items/"):
        response = client.get(f"{url}?x=%00")
        assert response.status_code == 400 and response.json() == {
            "error": "'x' must not contain NUL characters."
        }


def test_the_plan_list_page_shows_a_nul_search_as_a_400_with_the_forms_error(world):
    client = world["client"]
    response = client.get("/strategies?q=%00")
    assert response.status_code == 400
    page = response.content.decode()
    assert "Search: Null characters are not allowed." in page
    assert "Plan" in page and 'value=""' in page  # every plan listed, the bad search not echoed
    response = client.get("/strategies?q=plan")
    assert response.status_code == 200 and "Null characters" not in response.content.decode()


# --- the decorator and the schemas -------------------------------------------------------------


def test_other_methods_get_a_405_in_json_with_allow(world):
    response = world["client"].delete("/api/rag/answer")
    assert response.status_code == 405
    assert response.json() == {"error": "Use POST."} and response["Allow"] == "POST"
    response = world["client"].post(f"/api/plans/{world['plan'].pk}/items/{world['item'].pk}/")
    assert response.status_code == 405 and response["Allow"] == "GET, PATCH, PUT, DELETE"


def test_anonymous_callers_get_a_401_before_anything_else(client, world):
    for method, url, _, _ in cases(world):
        response = getattr(client, method)(url + "?q=%00", "{bad", content_type="text/plain")
        assert response.status_code == 401 and response.json() == {"error": "Log in to use the API."}


def test_duplicate_takes_no_body_and_ignores_one(world):
    plan = world["plan"]
    response = world["client"].post(f"/api/plans/{plan.pk}/duplicate", "not json", content_type="text/plain")
    assert response.status_code == 201 and response.json()["title"] == "Copy of Plan"


class Example(Schema):
    name: str
    count: int = 1
    ids: list[int] = []

    messages = {"name": "'name' is required and must be a string."}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ([], "The request body must be a JSON object."),
        ("name", "The request body must be a JSON object."),
        ({"name": "x", "b": 1, "a": 2}, "Unknown field(s): a, b."),
        ({"count": "x"}, "'name' is required and must be a string."),  # the first field's problem first
        ({"name": None}, "'name' is required and must be a string."),
        ({"name": "x", "count": "2"}, "'count' must be an integer."),  # strict: no "2" for 2
        ({"name": "x", "count": True}, "'count' must be an integer."),  # nor true for 1
        ({"name": "x", "count": 1.0}, "'count' must be an integer."),
        ({"name": "x", "ids": "1,2"}, "'ids' must be a list of integers."),
        ({"name": "x", "ids": [1, False]}, "'ids' must be a list of integers."),
    ],
)
def test_schema_errors_read_as_one_sentence(body, error):
    with pytest.raises(BadRequest) as raised:
        Example.parse(body)
    assert str(raised.value) == error


def test_a_valid_body_parses_and_knows_which_fields_were_sent():
    parsed = Example.parse({"name": "x", "ids": [3, 2]})
    assert (parsed.name, parsed.count, parsed.ids) == ("x", 1, [3, 2])
    assert parsed.model_fields_set == {"name", "ids"}


def test_someone_elses_object_is_a_404_whatever_the_body_says(world, second_user):
    other = Client()
    other.force_login(second_user)
    before = snapshot()
    for method, url, field, rest in cases(world):
        if url.startswith("/api/rag/answer") or url == "/api/plans/":
            continue  # no object in the URL
        for body in ({**rest, field: SURROGATE}, "{not json"):
            data = body if isinstance(body, str) else json.dumps(body)
            response = getattr(other, method)(url, data, content_type="application/json")
            assert response.status_code == 404, (method, url, body)
    assert snapshot() == before


def test_every_api_route_goes_through_the_layer():
    api_routes = [(route, pattern) for route, pattern in all_routes() if route.startswith("api/")]
    assert len(api_routes) >= 11
    for route, pattern in api_routes:
        assert getattr(pattern.callback, "json_api", False), f"{route} is not wrapped in @json_api"
