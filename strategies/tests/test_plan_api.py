import json

import pytest
from django.test import Client

from strategies.models import PlanItem, StrategyPlan
from toolkit.models import Chunk
from toolkitrag.testing.plans import item_texts

pytestmark = pytest.mark.django_db


def call(client, method: str, url: str, body=None, **extra):
    if method == "get":
        return client.get(url, **extra)
    data = body if isinstance(body, (str, bytes)) else json.dumps(body) if body is not None else None
    return getattr(client, method)(url, data=data, content_type="application/json", **extra)


@pytest.fixture
def api(client, owner):
    client.force_login(owner)
    return client


def test_anonymous_calls_get_401_json(client, plan):
    for method, url in [("get", "/api/plans/"), ("post", "/api/plans/"), ("get", f"/api/plans/{plan.pk}/")]:
        response = call(client, method, url, {})
        assert response.status_code == 401 and response.json() == {"error": "Log in to use the API."}


def test_create_list_retrieve_update_delete_a_plan(api, owner):
    response = call(api, "post", "/api/plans/", {"title": "Heat wave", "summary": "Cool rooms"})
    assert response.status_code == 201
    created = response.json()
    assert (created["title"], created["status"], created["items"]) == ("Heat wave", "draft", [])

    listed = api.get("/api/plans/").json()["plans"]
    assert [(p["id"], p["item_count"]) for p in listed] == [(created["id"], 0)]

    url = f"/api/plans/{created['id']}/"
    response = call(api, "patch", url, {"status": "active"})
    assert response.status_code == 200
    assert (response.json()["title"], response.json()["status"]) == ("Heat wave", "active")
    assert api.get("/api/plans/?status=active").json()["plans"][0]["id"] == created["id"]
    assert api.get("/api/plans/?status=done").json()["plans"] == []
    assert api.get("/api/plans/?q=cool").json()["plans"][0]["id"] == created["id"]

    assert call(api, "delete", url).json() == {"deleted": created["id"]}
    assert api.get(url).status_code == 404
    assert not StrategyPlan.objects.exists()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ([], "The request body must be a JSON object."),
        ({"title": ""}, "'title': This field is required."),
        ({}, "'title': This field is required."),
        ({"title": 5}, "'title' must be a string."),
        ({"title": None}, "'title' must be a string."),
        ({"title": "x" * 201}, "'title': Ensure this value has at most 200 characters (it has 201)."),
        (
            {"title": "ok", "status": "later"},
            "'status': Select a valid choice. later is not one of the available choices.",
        ),
        ({"title": "ok", "owner": 1}, "Unknown field(s): owner."),
    ],
)
def test_bad_plan_input_gets_400_with_the_chat_api_error_shape(api, body, error):
    response = call(api, "post", "/api/plans/", body)
    assert response.status_code == 400 and response.json() == {"error": error}
    assert not StrategyPlan.objects.exists()


def test_malformed_json_and_wrong_content_type_get_400(api, plan):
    assert call(api, "post", "/api/plans/", "{not json").json() == {
        "error": "The request body is not valid JSON."
    }
    response = api.patch(
        f"/api/plans/{plan.pk}/", data="title=x", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    assert response.json() == {"error": "Send JSON with Content-Type: application/json."}
    plan.refresh_from_db()
    assert plan.title == "Flood readiness 2027"


def test_a_failed_update_changes_nothing(api, plan):
    response = call(api, "patch", f"/api/plans/{plan.pk}/", {"summary": "new", "status": "nope"})
    assert response.status_code == 400
    plan.refresh_from_db()
    assert (plan.summary, plan.status) == ("Be ready before winter.", "draft")


def test_items_crud_through_the_api(api, plan):
    base = f"/api/plans/{plan.pk}/items/"
    response = call(
        api,
        "post",
        base,
        {"kind": "action", "text": "Check pumps", "due_date": "2027-03-01", "owner_name": "Jo"},
    )
    assert response.status_code == 201
    item = response.json()
    assert (item["position"], item["kind"], item["due_date"], item["status"]) == (
        3,
        "action",
        "2027-03-01",
        "todo",
    )

    url = f"{base}{item['id']}/"
    response = call(api, "patch", url, {"status": "done", "due_date": None})
    assert (response.json()["status"], response.json()["due_date"], response.json()["text"]) == (
        "done",
        None,
        "Check pumps",
    )
    assert call(api, "patch", url, {"due_date": "tomorrow"}).json() == {
        "error": "'due_date': Enter a valid date."
    }
    assert call(api, "patch", url, {"kind": "task"}).status_code == 400

    assert [i["text"] for i in api.get(base).json()["items"]][-1] == "Check pumps"
    assert call(api, "delete", url).json() == {"deleted": item["id"]}
    assert len(api.get(f"/api/plans/{plan.pk}/").json()["items"]) == 3


def test_reorder_takes_every_item_once(api, plan):
    ids = list(plan.items.values_list("pk", flat=True))
    url = f"/api/plans/{plan.pk}/items/order"
    response = call(api, "post", url, {"item_ids": ids[::-1]})
    assert [i["id"] for i in response.json()["items"]] == ids[::-1]
    assert item_texts(plan)[0] == "Ask the parish council about funding"

    error = "'item_ids' must list each of the plan's items exactly once."
    for bad in (ids[:2], ids + [ids[0]], ids[:2] + [999999]):
        assert call(api, "post", url, {"item_ids": bad}).json() == {"error": error}
    assert call(api, "post", url, {"item_ids": "1,2"}).json() == {
        "error": "'item_ids' must be a list of integers."
    }
    assert call(api, "post", url, {"item_ids": [True, 2, 3]}).status_code == 400
    assert [i.pk for i in plan.items.all()] == ids[::-1]  # the failed calls changed nothing


def test_an_item_can_cite_toolkit_sections_by_chunk_id(api, plan, toolkit_document):
    budget = Chunk.objects.get(document=toolkit_document, heading_path=["1 Planning", "1.1 Budget"])
    response = call(
        api,
        "post",
        f"/api/plans/{plan.pk}/items/",
        {"kind": "goal", "text": "Stay in budget [1]", "chunk_ids": [budget.pk]},
    )
    assert response.status_code == 201
    (citation,) = response.json()["citations"]
    assert citation["n"] == 1 and citation["version_tag"] == "v1" and citation["state"] == "current"
    assert citation["heading_path"] == ["1 Planning", "1.1 Budget"] and "every quarter" in citation["snippet"]

    response = call(
        api, "post", f"/api/plans/{plan.pk}/items/", {"kind": "goal", "text": "x", "chunk_ids": [999999]}
    )
    assert response.json() == {"error": "No toolkit section with id(s): 999999."}
    assert plan.items.count() == 4


def test_add_a_chat_answer_through_the_api(api, plan, answer_message):
    response = call(api, "post", f"/api/plans/{plan.pk}/items/", {"message_id": answer_message.pk})
    assert response.status_code == 201
    item = response.json()
    assert (item["kind"], item["text"], item["source_message_id"]) == (
        "note",
        answer_message.answer,
        answer_message.pk,
    )
    assert [c["chunk_id"] for c in item["citations"]] == [c["chunk_id"] for c in answer_message.citations]
    assert call(api, "post", f"/api/plans/{plan.pk}/items/", {"message_id": "1"}).status_code == 400


def test_duplicate_through_the_api(api, plan):
    response = call(api, "post", f"/api/plans/{plan.pk}/duplicate")
    assert response.status_code == 201
    assert [i["text"] for i in response.json()["items"]] == item_texts(plan)


def test_state_changing_calls_need_the_csrf_token(owner, plan):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    calls = [
        ("post", "/api/plans/", {"title": "x"}),
        ("patch", f"/api/plans/{plan.pk}/", {"title": "x"}),
        ("delete", f"/api/plans/{plan.pk}/", None),
        ("post", f"/api/plans/{plan.pk}/items/", {"text": "x"}),
        ("post", f"/api/plans/{plan.pk}/items/order", {"item_ids": []}),
        ("post", f"/api/plans/{plan.pk}/duplicate", None),
    ]
    for method, url, body in calls:
        response = call(client, method, url, body)
        assert response.status_code == 403, url
        assert "CSRF" in response.json()["error"]
    assert StrategyPlan.objects.count() == 1 and plan.items.count() == 3

    client.get("/strategies")  # the page sets the token cookie, as in a browser
    token = client.cookies["csrftoken"].value
    response = call(client, "post", "/api/plans/", {"title": "with token"}, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201
    assert PlanItem.objects.count() == 3
