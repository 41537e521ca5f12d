"""Every plan URL, found from the URL resolver, requested by a second user: nothing of the owner's leaks.
The second user comes in with a session, and again with their API token (Bearer: the plan API is
theirs to call, the pages send the token's caller to log in).

New views in the strategies app are swept automatically; a new kind of URL parameter fails the test
until the sweep is told which of the owner's objects to put there.
"""

import json

import pytest
from django.test import Client

from accounts.api_tokens import issue_token
from strategies.models import ItemCitation, PlanItem, StrategyPlan
from toolkitrag.testing.plans import item_texts
from toolkitrag.testing.toolkits import answered, ingest_toolkit
from toolkitrag.testing.url_sweep import all_routes, fill

pytestmark = pytest.mark.django_db

METHODS = ["get", "post", "put", "patch", "delete"]


def plan_patterns():
    """(route, pattern) for every URL served by a view of the strategies app."""
    return [(route, p) for route, p in all_routes() if p.callback.__module__.startswith("strategies.")]


@pytest.fixture
def owners_data(client, owner, plan):
    ingest_toolkit()
    message = answered(owner)
    client.force_login(owner)
    client.post(
        f"/strategies/add-answer/{message.pk}", {"plan": plan.pk, "kind": "note", "text": message.answer}
    )
    client.logout()
    secrets = [plan.title, plan.summary, *item_texts(plan)]
    return {"plan": plan, "item": plan.items.first(), "message": message, "secrets": secrets}


def snapshot() -> tuple:
    return (
        list(StrategyPlan.objects.order_by("pk").values_list("pk", "title", "summary", "status", "owner_id")),
        list(PlanItem.objects.order_by("pk").values_list("pk", "plan_id", "position", "text", "status")),
        ItemCitation.objects.count(),
    )


@pytest.mark.parametrize("way_in", ["session", "API token"])
def test_a_second_user_gets_404_or_403_on_every_plan_url_and_sees_none_of_the_owners_data(
    client, second_user, owners_data, way_in
):
    owner_plan, owner_item, owner_message = owners_data["plan"], owners_data["item"], owners_data["message"]
    own_plan = StrategyPlan.objects.create(owner=second_user, title="Second's own plan")
    before = snapshot()
    if way_in == "session":
        client.force_login(second_user)
    else:
        client = Client(headers={"Authorization": f"Bearer {issue_token(second_user, 'sweep')[1]}"})

    # For each URL: the owner's ids, and the second user's own plan with the owner's item in it.
    variants = [
        {"plan_id": owner_plan.pk, "item_id": owner_item.pk, "message_id": owner_message.pk},
        {"plan_id": own_plan.pk, "item_id": owner_item.pk, "message_id": owner_message.pk},
    ]
    patterns = plan_patterns()
    assert {p.name for _, p in patterns} >= {"strategy-list", "strategy-detail", "api-plans", "api-plan-item"}
    requested = 0
    for route, pattern in patterns:
        # The second user's own plan alone is theirs to see: that variant only matters with an item id.
        usable = variants if "<int:item_id>" in route else variants[:1]
        urls = {fill(route, {**values, "extension": ext}) for values in usable for ext in ("docx", "md")}
        has_ids = "<int:" in route
        for url in sorted(urls):
            if not has_ids and url != "/" + route:
                continue
            for method in METHODS:
                if method == "get":
                    response = client.get(url)
                elif url.startswith("/api/"):
                    body = json.dumps(
                        {
                            "title": "hijack",
                            "text": "hijack",
                            "item_ids": [owner_item.pk],
                            "message_id": owner_message.pk,
                        }
                    )
                    response = getattr(client, method)(url, data=body, content_type="application/json")
                else:
                    form = {
                        "title": "hijack",
                        "status": "done",
                        "kind": "note",
                        "text": "hijack",
                        "direction": "down",
                        "plan": owner_plan.pk,
                    }
                    response = (
                        getattr(client, method)(url, data=form)
                        if method == "post"
                        else getattr(client, method)(url)
                    )
                requested += 1
                body = response.content.decode(errors="replace")
                context = f"{method.upper()} {url} ({pattern.name}) -> {response.status_code}"
                if way_in == "API token" and not url.startswith("/api/"):  # a page: no one is signed in
                    assert response.status_code in (302, 405), context
                    if response.status_code == 302:
                        assert response["Location"].startswith(("/auth/login", "/admin/login/")), context
                elif has_ids:
                    assert response.status_code in (403, 404, 405), context
                else:
                    assert response.status_code < 500, context
                for secret in owners_data["secrets"]:
                    assert secret not in body, context

    assert requested >= 100
    # Creating one's own plan is allowed (the list/create URLs); nothing of the owner's changed.
    after = snapshot()
    owners = lambda rows: [r for r in rows if r[-1] == owner_plan.owner_id]  # noqa: E731
    assert owners(after[0]) == owners(before[0])
    assert [r for r in after[1] if r[1] == owner_plan.pk] == [r for r in before[1] if r[1] == owner_plan.pk]
    assert ItemCitation.objects.filter(item__plan=owner_plan).count() == before[2]


def test_the_second_users_own_answer_cannot_be_added_to_the_owners_plan(client, second_user, owners_data):
    message = answered(second_user, "Who opens the rest centre?")
    client.force_login(second_user)
    plan = owners_data["plan"]
    response = client.post(
        f"/strategies/add-answer/{message.pk}", {"plan": plan.pk, "kind": "note", "text": "x"}
    )
    assert response.status_code == 404
    response = client.post(
        f"/api/plans/{plan.pk}/items/", data={"message_id": message.pk}, content_type="application/json"
    )
    assert response.status_code == 404
    assert PlanItem.objects.filter(plan=plan).count() == 4


def test_lists_and_counts_only_show_ones_own_plans(client, second_user, owners_data):
    StrategyPlan.objects.create(owner=second_user, title="Mine", status="done")
    client.force_login(second_user)
    page = client.get("/strategies").content.decode()
    assert "Mine" in page and owners_data["plan"].title not in page
    assert 'All <span class="count">1</span>' in page and 'Draft <span class="count">0</span>' in page
    assert [p["title"] for p in client.get("/api/plans/").json()["plans"]] == ["Mine"]
    assert client.get("/api/plans/?q=flood").json()["plans"] == []


def test_anonymous_visitors_are_sent_to_log_in_or_get_401(client, owners_data):
    plan = owners_data["plan"]
    for route, _ in plan_patterns():
        url = fill(
            route, {"plan_id": plan.pk, "item_id": owners_data["item"].pk, "message_id": 1, "extension": "md"}
        )
        response = client.get(url)
        if url.startswith("/api/"):
            assert response.status_code in (401, 405), url
        else:
            assert response.status_code in (302, 405), url
            if response.status_code == 302:
                assert response["Location"].startswith(("/auth/login", "/admin/login/")), url
        assert plan.title not in response.content.decode()
