"""Stored XSS: markup in .docx text, headings and table cells, in a file name, a toolkit name and
a version tag, in questions, in the language model's output, in a plan title and a feedback
comment is shown as text everywhere it appears (chat while streaming, history, source view,
plans, admin, analytics) and in the Markdown export. Each page is checked in Chromium: no
dialog opened, no element or script the payload would have made exists, and the payload's
text is on the page (so the check is not passing on a page that never showed it)."""

import io
import json
import re

import pytest

from rag.models import Message
from strategies.models import StrategyPlan
from toolkit import ingestion, uploads
from toolkit.models import Toolkit
from toolkitrag.testing.browser import log_in, needs_chromium
from toolkitrag.testing.docx_factory import make_docx

pytestmark = [pytest.mark.django_db(transaction=True), needs_chromium, pytest.mark.system]

SHORT = "<img src=x-xss onerror=alert(1)>"  # fits a version tag (50 characters)
LONG = SHORT + "<script>alert(2)</script><svg onload=alert(3)></svg>"
MADE_BY_PAYLOAD = "img[src='x-xss'], svg[onload], a[href^='javascript:']"


def assert_inert(page, *, shows: str = SHORT) -> None:
    page.wait_for_load_state("load")
    assert page.dialogs == [], page.url
    assert page.locator(MADE_BY_PAYLOAD).count() == 0, page.url
    ran = page.evaluate("[...document.scripts].some(s => s.textContent.includes('alert(2)'))")
    assert not ran, page.url
    assert shows in page.inner_text("body"), page.url


@pytest.fixture
def hostile_toolkit(db):
    spec = [
        ("h1", "1 Planning " + SHORT),
        ("p", "The budget is reviewed every quarter by the treasurer. " + LONG),
        ("h2", "1.1 Budget " + SHORT),
        ("p", "Large purchases need two trustees " + LONG),
        ("table", [["Role", "Duty"], ["Treasurer " + SHORT, "Reviews the budget " + LONG]]),
    ]
    kit = Toolkit.objects.create(name="Toolkit " + SHORT)
    document = uploads.create_version(
        toolkit=kit, version_tag=SHORT, stream=io.BytesIO(make_docx(spec)), filename=SHORT + ".docx"
    )
    return ingestion.ingest(document)


def test_markup_from_every_source_is_shown_as_text_and_never_runs(
    page, owner, django_user_model, fake_openai, hostile_toolkit
):
    fake_openai.chat_reply = lambda messages: f"The treasurer reviews the budget {LONG} every quarter [1]."
    log_in(page, owner)

    # Chat: the question and the model's streamed answer, with citations naming toolkit/version/heading.
    page.goto("/toolkit")
    page.fill("#question", "How often is the budget reviewed? " + SHORT)
    page.keyboard.press("Enter")
    page.locator("a.cite").first.wait_for()
    page.locator(".exchange .add-to-plan").wait_for()
    assert_inert(page)
    assert LONG in page.locator(".answer-text").first.inner_text()
    message = Message.objects.get()
    conversation_url = f"/toolkit/c/{message.conversation_id}"

    # Feedback comment, through the page's own form.
    page.locator("button.rate[data-rating=down]").click()
    page.locator(".feedback-comment textarea").fill("Wrong! " + LONG)
    page.locator("button.send-comment").click()
    page.get_by_text("Thank you for your feedback.").wait_for()

    # History, rendered on the server this time, and the cited source.
    page.goto(conversation_url)
    assert_inert(page)
    with page.expect_navigation():
        page.locator("a.cite").first.click()
    assert_inert(page)

    # A plan with a hostile title, from the answer.
    page.goto(conversation_url)
    page.locator(".exchange .add-to-plan").click()
    page.wait_for_url("**/strategies/add-answer/*")
    assert_inert(page)
    page.fill("#id_new_plan_title", "Plan " + SHORT)
    page.get_by_role("button", name="Add to plan").click()
    page.wait_for_url(re.compile(r"/strategies/\d+#item-\d+$"))
    assert_inert(page)
    plan = StrategyPlan.objects.get()
    page.goto("/strategies")
    assert_inert(page)
    markdown = page.request.get(f"/strategies/{plan.pk}/export.md").text()
    assert "<img" not in markdown and "<script" not in markdown
    assert "&lt;img src=x-xss onerror=alert(1)>" in markdown

    # Staff: the admin's lists and pages, analytics and feedback triage.
    page.goto("/auth/logout")
    page.click("button[type=submit]")
    admin = django_user_model.objects.create_superuser(
        "root", "root@example.org", "correct-horse-battery-staple"
    )
    log_in(page, admin)
    for url in [
        "/admin/toolkit/toolkitversion/",
        f"/admin/toolkit/toolkitversion/{hostile_toolkit.pk}/change/",
        "/admin/toolkit/toolkit/",
        "/admin/rag/message/",
        f"/admin/rag/message/{message.pk}/change/",
        "/admin/rag/conversation/",
        "/admin/rag/feedback/",
        "/admin/analytics/",
        "/admin/analytics/versions/",
        "/admin/analytics/feedback/",
    ]:
        page.goto(url)
        assert_inert(page)
    csv = page.request.get("/admin/analytics/messages.csv").text()
    assert SHORT in csv  # CSV is data, not markup; formula cells are covered in rag/tests/test_analytics.py
    assert json.dumps(page.dialogs) == "[]" and page.console_errors == []
