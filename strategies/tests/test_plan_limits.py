"""Per-user caps on plans (PLAN_MAX_*) and rate limits on exports and duplicates (issue 18: one user
built a plan of 200 items x 10 KB x 20 citations whose page, exports and duplicate took 3-5 s each).

Every cap answers the JSON API with a 400 naming it and the pages with a form error, and leaves
nothing half-written: no plan, item or citation is added by a refused request."""

import json
import threading

import pytest
from django.db import close_old_connections
from django.test import Client

from strategies import plans
from strategies.models import ItemCitation, PlanItem, StrategyPlan
from toolkit.models import Chunk

pytestmark = pytest.mark.django_db


def post_json(client: Client, url: str, body: dict):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def patch_json(client: Client, url: str, body: dict):
    return client.patch(url, data=json.dumps(body), content_type="application/json")


def counts(owner) -> tuple[int, int, int]:
    return (
        StrategyPlan.objects.filter(owner=owner).count(),
        PlanItem.objects.filter(plan__owner=owner).count(),
        ItemCitation.objects.filter(item__plan__owner=owner).count(),
    )


def form_errors(response) -> list[str]:
    form = response.context["form"]
    return [str(error) for errors in form.errors.values() for error in errors]


# --- plans per user ---------------------------------------------------------------------------


def test_plans_per_user_cap_on_the_api_the_pages_and_duplicate(
    owner_client, owner, second_user, plan, settings
):
    settings.PLAN_MAX_PLANS_PER_USER = 2
    assert post_json(owner_client, "/api/plans/", {"title": "Second"}).status_code == 201
    before = counts(owner)

    response = post_json(owner_client, "/api/plans/", {"title": "Third"})
    assert response.status_code == 400
    assert response.json() == {
        "error": "You already have 2 plans, the most one person may keep. "
        "Delete a plan you no longer need, then try again."
    }
    assert post_json(owner_client, f"/api/plans/{plan.pk}/duplicate", {}).status_code == 400

    page = owner_client.post("/strategies/new", {"title": "Third", "summary": "", "status": "draft"})
    assert page.status_code == 200 and "You already have 2 plans" in form_errors(page)[0]
    assert "You already have 2 plans" in page.content.decode()

    duplicated = owner_client.post(f"/strategies/{plan.pk}/duplicate", follow=True)
    assert duplicated.redirect_chain[-1][0] == f"/strategies/{plan.pk}"  # back on the original
    assert "You already have 2 plans" in duplicated.content.decode()
    assert counts(owner) == before

    # The cap is per user: someone else still creates plans.
    other = Client()
    other.force_login(second_user)
    assert post_json(other, "/api/plans/", {"title": "Mine"}).status_code == 201


def test_add_answer_to_a_new_plan_at_the_cap_keeps_nothing(owner_client, owner, answer_message, settings):
    settings.PLAN_MAX_PLANS_PER_USER = 1
    StrategyPlan.objects.create(owner=owner, title="The only one")
    before = counts(owner)
    url = f"/strategies/add-answer/{answer_message.pk}"
    response = owner_client.post(url, {"plan": "", "new_plan_title": "Another", "kind": "note", "text": "x"})
    assert response.status_code == 200 and "You already have 1 plans" in form_errors(response)[0]
    assert counts(owner) == before


def test_parallel_creates_cannot_slip_past_the_plans_cap(transactional_db, owner, settings):
    """The owner's row is locked while counting: of 6 parallel creates at cap - 1, one succeeds."""
    settings.PLAN_MAX_PLANS_PER_USER = 3
    for n in range(2):
        StrategyPlan.objects.create(owner=owner, title=f"Plan {n}")
    outcomes, start = [], threading.Barrier(6)

    def create() -> None:
        try:
            start.wait()
            plans.create_plan(StrategyPlan(owner=owner, title="Racing"))
            outcomes.append("created")
        except plans.PlanLimitReached:
            outcomes.append("refused")
        finally:
            close_old_connections()

    threads = [threading.Thread(target=create) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created"] + ["refused"] * 5
    assert StrategyPlan.objects.filter(owner=owner).count() == 3


# --- items per plan ---------------------------------------------------------------------------


def test_items_per_plan_cap_on_the_api_the_pages_and_add_to_plan(
    owner_client, owner, plan, answer_message, settings
):
    settings.PLAN_MAX_ITEMS_PER_PLAN = 3  # the fixture's plan has 3 items
    before = counts(owner)
    message = (
        "This plan already has 3 items, the most a plan may hold. Remove an item, or start another plan."
    )

    response = post_json(
        owner_client, f"/api/plans/{plan.pk}/items/", {"kind": "note", "text": "One more", "status": "todo"}
    )
    assert response.status_code == 400 and response.json() == {"error": message}
    response = post_json(owner_client, f"/api/plans/{plan.pk}/items/", {"message_id": answer_message.pk})
    assert response.status_code == 400 and response.json() == {"error": message}

    page = owner_client.post(
        f"/strategies/{plan.pk}/items/new", {"kind": "note", "text": "One more", "status": "todo"}
    )
    assert page.status_code == 200 and form_errors(page) == [message]
    url = f"/strategies/add-answer/{answer_message.pk}"
    page = owner_client.post(url, {"plan": plan.pk, "kind": "note", "text": "From the chat"})
    assert page.status_code == 200 and form_errors(page) == [message]
    assert counts(owner) == before

    # Room again after removing one.
    assert owner_client.delete(f"/api/plans/{plan.pk}/items/{plan.items.first().pk}/").status_code == 200
    response = post_json(
        owner_client, f"/api/plans/{plan.pk}/items/", {"kind": "note", "text": "One more", "status": "todo"}
    )
    assert response.status_code == 201


# --- text size --------------------------------------------------------------------------------


def test_text_size_cap_on_items_and_summaries(owner_client, owner, plan, settings):
    settings.PLAN_MAX_TEXT_CHARS = 100
    item = plan.items.first()
    before = counts(owner)
    too_long, just_right = "x" * 101, "x" * 100

    response = post_json(owner_client, f"/api/plans/{plan.pk}/items/", {"kind": "note", "text": too_long})
    assert response.status_code == 400 and "at most 100 characters" in response.json()["error"]
    response = patch_json(owner_client, f"/api/plans/{plan.pk}/items/{item.pk}/", {"text": too_long})
    assert response.status_code == 400 and "at most 100 characters" in response.json()["error"]
    response = patch_json(owner_client, f"/api/plans/{plan.pk}/", {"summary": too_long})
    assert response.status_code == 400 and "at most 100 characters" in response.json()["error"]
    response = post_json(owner_client, "/api/plans/", {"title": "Long", "summary": too_long})
    assert response.status_code == 400 and "at most 100 characters" in response.json()["error"]

    page = owner_client.post(
        f"/strategies/{plan.pk}/items/new", {"kind": "note", "text": too_long, "status": "todo"}
    )
    assert page.status_code == 200 and "at most 100 characters" in form_errors(page)[0]
    assert 'maxlength="100"' in page.content.decode()  # the browser says so before sending
    page = owner_client.post(
        f"/strategies/{plan.pk}/edit", {"title": "T", "summary": too_long, "status": "draft"}
    )
    assert page.status_code == 200 and "at most 100 characters" in form_errors(page)[0]
    assert counts(owner) == before
    plan.refresh_from_db()
    item.refresh_from_db()
    assert plan.summary == "Be ready before winter." and item.text == "Every street has a flood warden"

    response = post_json(owner_client, f"/api/plans/{plan.pk}/items/", {"kind": "note", "text": just_right})
    assert response.status_code == 201


def test_text_cap_never_exceeds_the_columns(settings):
    """A cap set above the column's size still leaves the column's limit (10,000 characters) in force."""
    from strategies.forms import ItemForm

    settings.PLAN_MAX_TEXT_CHARS = 50_000
    form = ItemForm(data={"kind": "note", "text": "x" * 10_001, "status": "todo"})
    assert not form.is_valid() and "at most 10000 characters" in form.errors["text"][0]


# --- citations per item -----------------------------------------------------------------------


def test_citations_per_item_cap_on_chunk_ids_and_answers(owner_client, owner, plan, answer_message, settings):
    cited = len(answer_message.citations)
    settings.PLAN_MAX_CITATIONS_PER_ITEM = cited - 1
    chunk_ids = list(Chunk.objects.values_list("pk", flat=True)[:cited])
    before = counts(owner)

    body = {"kind": "note", "text": "Cites a lot", "chunk_ids": chunk_ids}
    response = post_json(owner_client, f"/api/plans/{plan.pk}/items/", body)
    assert response.status_code == 400 and f"at most {cited - 1}" in response.json()["error"]
    response = post_json(owner_client, f"/api/plans/{plan.pk}/items/", {"message_id": answer_message.pk})
    assert response.status_code == 400
    assert response.json() == {
        "error": f"An item may cite at most {cited - 1} toolkit sections; this one cites {cited}."
    }
    url = f"/strategies/add-answer/{answer_message.pk}"
    page = owner_client.post(url, {"plan": plan.pk, "kind": "note", "text": "From the chat"})
    assert page.status_code == 200 and form_errors(page)[0].startswith("An item may cite at most")
    assert counts(owner) == before

    settings.PLAN_MAX_CITATIONS_PER_ITEM = cited
    response = post_json(owner_client, f"/api/plans/{plan.pk}/items/", {"message_id": answer_message.pk})
    assert response.status_code == 201 and len(response.json()["citations"]) == cited


# --- duplicate copies everything in a few statements ------------------------------------------


def test_duplicate_copies_items_and_citations_in_order(owner, plan, answer_message):
    plans.add_answer(plan, answer_message, "note", "From the chat")
    copy = plans.duplicate_plan(plan)
    original = [(i.kind, i.text, i.position, [c.n for c in i.citations.all()]) for i in plan.items.all()]
    copied = [(i.kind, i.text, i.position, [c.n for c in i.citations.all()]) for i in copy.items.all()]
    assert copied == original and len(copied) == 4 and copied[-1][3]
    assert copy.title == f"Copy of {plan.title}" and copy.status == "draft"


# --- rate limits ------------------------------------------------------------------------------


def test_exports_are_rate_limited_per_user(owner_client, owner, second_user, plan, settings, rate_window):
    settings.RATE_LIMIT_ENABLED = True
    settings.RATE_LIMIT_PLAN_EXPORTS = 2
    rate_window(f"user:{owner.pk}")
    assert owner_client.get(f"/strategies/{plan.pk}/export.md").status_code == 200
    assert owner_client.get(f"/strategies/{plan.pk}/export.docx").status_code == 200
    refused = owner_client.get(f"/strategies/{plan.pk}/export.md")
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert "Too many requests" in refused.content.decode() or "try again" in refused.content.decode().lower()

    # Another user's own exports are not held up.
    other_plan = StrategyPlan.objects.create(owner=second_user, title="Theirs")
    other = Client()
    other.force_login(second_user)
    assert other.get(f"/strategies/{other_plan.pk}/export.md").status_code == 200


def test_duplicates_are_rate_limited_per_user_across_pages_and_api(
    owner_client, owner, plan, settings, rate_window
):
    settings.RATE_LIMIT_ENABLED = True
    settings.RATE_LIMIT_PLAN_DUPLICATES = 1
    rate_window(f"user:{owner.pk}")
    assert owner_client.post(f"/strategies/{plan.pk}/duplicate").status_code == 302
    before = counts(owner)
    refused = post_json(owner_client, f"/api/plans/{plan.pk}/duplicate", {})
    assert refused.status_code == 429 and refused.json()["retry_after"] >= 1
    assert owner_client.post(f"/strategies/{plan.pk}/duplicate").status_code == 429
    assert counts(owner) == before
