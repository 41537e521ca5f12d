import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from strategies.models import ItemCitation, PlanItem, StrategyPlan
from toolkitrag.testing.plans import item_texts
from toolkitrag.testing.toolkits import TOOLKIT, answered, ingest_toolkit

pytestmark = pytest.mark.django_db


def test_plan_pages_need_login(client):
    response = client.get("/strategies")
    assert response.status_code == 302 and "/auth/login" in response["Location"]


def test_create_edit_and_see_a_plan(client, owner):
    client.force_login(owner)
    response = client.post(
        "/strategies/new", {"title": "  Winter plan ", "summary": "Keep warm", "status": "draft"}
    )
    plan = StrategyPlan.objects.get(owner=owner)
    assert response.status_code == 302 and response["Location"] == f"/strategies/{plan.pk}"
    assert plan.title == "Winter plan"

    response = client.post(
        f"/strategies/{plan.pk}/edit", {"title": "Winter plan 2027", "summary": "", "status": "active"}
    )
    assert response.status_code == 302
    plan.refresh_from_db()
    assert (plan.title, plan.summary, plan.status) == ("Winter plan 2027", "", "active")

    page = client.get(f"/strategies/{plan.pk}").content.decode()
    assert "Winter plan 2027" in page and "Active" in page and "No items yet" in page


def test_create_plan_without_title_shows_the_error_and_saves_nothing(client, owner):
    client.force_login(owner)
    response = client.post("/strategies/new", {"title": "", "status": "draft"})
    assert response.status_code == 200 and "This field is required" in response.content.decode()
    response = client.post("/strategies/new", {"title": "x", "status": "someday"})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not StrategyPlan.objects.exists()


def test_items_are_added_edited_and_deleted_in_order(client, owner, plan):
    client.force_login(owner)
    response = client.post(
        f"/strategies/{plan.pk}/items/new",
        {
            "kind": "action",
            "text": "Buy sandbags",
            "owner_name": "Alex",
            "due_date": "2027-02-01",
            "status": "todo",
        },
    )
    item = plan.items.get(text="Buy sandbags")
    assert response["Location"] == f"/strategies/{plan.pk}#item-{item.pk}"
    assert item.position == 3 and item.owner_name == "Alex" and str(item.due_date) == "2027-02-01"

    client.post(
        f"/strategies/{plan.pk}/items/{item.pk}/edit",
        {
            "kind": "action",
            "text": "Buy 200 sandbags",
            "owner_name": "Alex",
            "due_date": "",
            "status": "done",
        },
    )
    item.refresh_from_db()
    assert (item.text, item.due_date, item.status) == ("Buy 200 sandbags", None, "done")

    response = client.post(f"/strategies/{plan.pk}/items/new", {"kind": "goal", "text": "", "status": "todo"})
    assert response.status_code == 200 and "This field is required" in response.content.decode()

    first = plan.items.first()
    confirm = client.get(f"/strategies/{plan.pk}/items/{first.pk}/delete")
    assert confirm.status_code == 200 and "Every street has a flood warden" in confirm.content.decode()
    assert plan.items.count() == 4  # asking is not deleting
    client.post(f"/strategies/{plan.pk}/items/{first.pk}/delete")
    assert item_texts(plan) == ["Recruit wardens", "Ask the parish council about funding", "Buy 200 sandbags"]
    assert list(plan.items.values_list("position", flat=True)) == [0, 1, 2]


def test_move_buttons_reorder_items_and_keep_the_focus_on_the_moved_item(client, owner, plan):
    client.force_login(owner)
    note = plan.items.get(kind="note")
    response = client.post(f"/strategies/{plan.pk}/items/{note.pk}/move", {"direction": "up"})
    assert item_texts(plan) == [
        "Every street has a flood warden",
        "Ask the parish council about funding",
        "Recruit wardens",
    ]
    page = client.get(response["Location"]).content.decode()
    # The moved item's "Move up" button has the focus, so pressing Enter again moves it again.
    item_html = page[page.index(f'id="item-{note.pk}"') :]
    assert 'value="up" aria-label="Move item 2 up" autofocus' in item_html[: item_html.index("</form>")]

    client.post(f"/strategies/{plan.pk}/items/{note.pk}/move", {"direction": "up"})
    client.post(f"/strategies/{plan.pk}/items/{note.pk}/move", {"direction": "up"})  # already first: stays
    assert item_texts(plan)[0] == "Ask the parish council about funding"
    client.post(f"/strategies/{plan.pk}/items/{note.pk}/move", {"direction": "last"})
    assert item_texts(plan)[-1] == "Ask the parish council about funding"
    client.post(f"/strategies/{plan.pk}/items/{note.pk}/move", {"direction": "sideways"})
    assert item_texts(plan)[-1] == "Ask the parish council about funding"
    assert list(plan.items.values_list("position", flat=True)) == [0, 1, 2]


def test_the_first_and_last_move_buttons_are_disabled(client, owner, plan):
    client.force_login(owner)
    page = client.get(f"/strategies/{plan.pk}").content.decode()
    assert 'aria-label="Move item 1 up" disabled' in page
    assert 'aria-label="Move item 3 down" disabled' in page
    assert 'aria-label="Move item 2 up">' in page


def test_delete_asks_for_confirmation_first(client, owner, plan):
    client.force_login(owner)
    confirm = client.get(f"/strategies/{plan.pk}/delete")
    assert confirm.status_code == 200 and "cannot be undone" in confirm.content.decode()
    assert StrategyPlan.objects.filter(pk=plan.pk).exists()
    response = client.post(f"/strategies/{plan.pk}/delete")
    assert response["Location"] == "/strategies"
    assert not StrategyPlan.objects.filter(pk=plan.pk).exists() and not PlanItem.objects.exists()


def test_duplicate_copies_items_and_citations_as_a_new_draft(client, owner, plan, answer_message):
    client.force_login(owner)
    client.post(
        f"/strategies/add-answer/{answer_message.pk}", {"plan": plan.pk, "kind": "note", "text": "From chat"}
    )
    plan.status = "active"
    plan.save()
    response = client.post(f"/strategies/{plan.pk}/duplicate")
    copy = StrategyPlan.objects.exclude(pk=plan.pk).get()
    assert response["Location"] == f"/strategies/{copy.pk}"
    assert (copy.title, copy.status, copy.owner) == ("Copy of Flood readiness 2027", "draft", owner)
    assert item_texts(copy) == item_texts(plan)
    assert ItemCitation.objects.filter(item__plan=copy).count() == len(answer_message.citations) > 0
    # The copy is independent: editing it leaves the original alone.
    copy.items.update(text="changed")
    assert "changed" not in item_texts(plan)


def test_list_filters_by_status_and_searches_titles_summaries_and_items(client, owner, plan):
    client.force_login(owner)
    StrategyPlan.objects.create(owner=owner, title="Budget review", status="done")
    StrategyPlan.objects.create(owner=owner, title="Youth club", summary="Summer sessions", status="active")

    def titles(query: str) -> list[str]:
        page = client.get(f"/strategies{query}")
        return sorted(p.title for p in page.context["page"].object_list)

    assert titles("") == ["Budget review", "Flood readiness 2027", "Youth club"]
    assert titles("?status=done") == ["Budget review"]
    assert titles("?q=summer") == ["Youth club"]
    assert titles("?q=wardens") == ["Flood readiness 2027"]  # an item's text
    assert titles("?q=wardens&status=done") == []
    assert titles("?status=bogus") == ["Budget review", "Flood readiness 2027", "Youth club"]
    page = client.get("/strategies").content.decode()
    assert 'Done <span class="count">1</span>' in page


def test_add_answer_to_a_new_plan_carries_the_answer_and_its_citations(client, owner, answer_message):
    client.force_login(owner)
    form = client.get(f"/strategies/add-answer/{answer_message.pk}")
    assert form.status_code == 200 and answer_message.answer[:40] in form.content.decode()

    response = client.post(
        f"/strategies/add-answer/{answer_message.pk}",
        {"plan": "", "new_plan_title": "Budget rules", "kind": "action", "text": answer_message.answer},
    )
    plan = StrategyPlan.objects.get(owner=owner, title="Budget rules")
    item = plan.items.get()
    assert response["Location"] == f"/strategies/{plan.pk}#item-{item.pk}"
    assert (item.kind, item.text, item.source_message) == ("action", answer_message.answer, answer_message)
    cited = list(item.citations.all())
    assert [c.n for c in cited] == [c["n"] for c in answer_message.citations]
    first = answer_message.citations[0]
    assert cited[0].chunk_id == first["chunk_id"]
    assert (cited[0].toolkit_name, cited[0].version_tag, cited[0].heading_path) == (
        first["toolkit"],
        first["version_tag"],
        first["heading_path"],
    )
    assert cited[0].snippet == first["snippet"] and len(cited[0].content_hash) == 64

    page = client.get(f"/strategies/{plan.pk}").content.decode()
    assert "Community Toolkit v1 — 1 Planning › 1.1 Budget" in page


def test_add_answer_needs_a_plan_or_a_title(client, owner, answer_message):
    client.force_login(owner)
    response = client.post(f"/strategies/add-answer/{answer_message.pk}", {"kind": "note", "text": "x"})
    assert (
        response.status_code == 200
        and "Pick a plan or give the new plan a title" in response.content.decode()
    )
    assert not StrategyPlan.objects.exists()


def test_the_chat_offers_add_to_plan_under_answered_questions(client, owner, answer_message):
    client.force_login(owner)
    page = client.get(f"/toolkit/c/{answer_message.conversation_id}").content.decode()
    assert f'href="/strategies/add-answer/{answer_message.pk}">Add to plan' in page


def test_citations_keep_their_snapshot_and_say_when_the_active_version_changed(client, owner, answer_message):
    client.force_login(owner)
    client.post(
        f"/strategies/add-answer/{answer_message.pk}",
        {"new_plan_title": "Budget", "kind": "note", "text": answer_message.answer},
    )
    plan = StrategyPlan.objects.get(title="Budget")
    snippet = plan.items.get().citations.first().snippet

    # v2 rewrites the budget section; the plan keeps what v1 said and flags the change.
    changed = [(kind, text.replace("every quarter by the treasurer", "every month by the finance committee"))
               for kind, text in TOOLKIT]  # fmt: skip
    ingest_toolkit(changed, version="v2")
    page = client.get(f"/strategies/{plan.pk}").content.decode()
    assert "This section has changed in the active version v2." in page
    assert snippet[:60] in page
    assert plan.items.get().citations.first().version_tag == "v1"

    # v3 drops the section altogether.
    ingest_toolkit(
        [block for block in TOOLKIT if "1.1 Budget" not in block[1] and "quarter" not in block[1]], "v3"
    )
    page = client.get(f"/strategies/{plan.pk}").content.decode()
    assert "This section is no longer in the active version v3." in page


def test_an_unchanged_section_in_a_new_version_is_not_flagged(client, owner, answer_message):
    client.force_login(owner)
    client.post(
        f"/strategies/add-answer/{answer_message.pk}", {"new_plan_title": "P", "kind": "note", "text": "t"}
    )
    ingest_toolkit(TOOLKIT + [("h1", "4 Appendix"), ("p", "Contacts of the parish council.")], version="v2")
    page = client.get(f"/strategies/{StrategyPlan.objects.get().pk}").content.decode()
    assert "changed in the active version" not in page and "no longer" not in page


def test_deleting_the_chat_keeps_the_plan_item_and_its_citations(client, owner, answer_message):
    client.force_login(owner)
    client.post(
        f"/strategies/add-answer/{answer_message.pk}", {"new_plan_title": "P", "kind": "note", "text": "t"}
    )
    answer_message.conversation.delete()
    item = PlanItem.objects.get()
    assert item.source_message is None and item.citations.count() == len(answer_message.citations)


def test_second_answer_in_the_same_plan_goes_to_the_end(client, owner, plan):
    ingest_toolkit()
    message = answered(owner, "Who opens the rest centre in a flood?")
    client.force_login(owner)
    client.post(
        f"/strategies/add-answer/{message.pk}", {"plan": plan.pk, "kind": "note", "text": message.answer}
    )
    assert item_texts(plan)[-1] == message.answer and plan.items.last().position == 3


def test_staff_see_plan_counts_in_the_admin_but_no_content(client, staff_user, plan):
    client.force_login(staff_user)
    counts_url = reverse("admin:strategies_strategyplan_changelist")
    assert client.get(counts_url).status_code == 403  # staff without the view permission
    staff_user.user_permissions.add(Permission.objects.get(codename="view_strategyplan"))
    page = client.get(counts_url)
    text = page.content.decode()
    assert page.status_code == 200
    assert "Plans</th><td>1" in text.replace("\n", "")
    assert plan.title not in text and "wardens" not in text
    assert client.get(f"/admin/strategies/strategyplan/{plan.pk}/change/").status_code == 404
    assert plan.title not in client.get("/admin/").content.decode()
