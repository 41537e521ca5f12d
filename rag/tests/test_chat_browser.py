"""The chat in a real browser: Debian's Chromium driven by Playwright against a live server."""

import pytest

from rag.models import Feedback, Message
from toolkitrag.testing.browser import log_in, needs_chromium
from toolkitrag.testing.toolkits import TOOLKIT, ingest_toolkit

pytestmark = [pytest.mark.django_db(transaction=True), needs_chromium, pytest.mark.system]


def test_ask_stream_cite_open_source_give_feedback_and_follow_up(page, owner, fake_openai):
    ingest_toolkit()
    fake_openai.token_delay = 0.08  # slow enough to see the answer arrive piece by piece
    fake_openai.chat_reply = lambda messages: (
        "The budget is reviewed every quarter by the treasurer, and large purchases need two trustees [1]."
        if "Sources:" in messages[-1]["content"]
        else "Who approves large purchases in the budget?"  # the rewritten follow-up
    )
    log_in(page, owner)
    page.goto("/toolkit")
    assert page.locator("button.example").count() >= 1

    page.fill("#question", "How often is the budget reviewed?")
    page.keyboard.press("Enter")
    streaming = page.locator(".answer-streaming .answer-text")
    streaming.wait_for()
    page.wait_for_function(
        "() => { const t = document.querySelector('.answer-streaming .answer-text'); "
        "return t && t.textContent.startsWith('The budget') && t.textContent.length < 60; }"
    )  # part of the answer is on screen before the rest has been generated
    cite = page.locator("a.cite").first
    cite.wait_for()
    answer = page.locator(".answer-text").first.text_content()
    assert answer.endswith("two trustees [1].")
    assert "1 Planning › 1.1 Budget" in page.locator(".citations").first.text_content()
    assert "/toolkit/c/" in page.url

    page.locator("button.rate[data-rating=up]").click()
    page.locator(".feedback-comment textarea").fill("Exactly what I needed")
    page.locator("button.send-comment").click()
    page.get_by_text("Thank you for your feedback.").wait_for()
    feedback = Feedback.objects.get()
    assert feedback.rating == 1 and feedback.comment == "Exactly what I needed"

    page.fill("#question", "and who approves big purchases?")
    page.click("#ask-button")
    page.locator(".exchange").nth(1).locator("a.cite").wait_for()
    assert Message.objects.count() == 2 and Message.objects.values("conversation").distinct().count() == 1
    assert (
        Message.objects.order_by("pk").last().rewritten_query == "Who approves large purchases in the budget?"
    )

    with page.expect_navigation():
        page.locator(".exchange").first.locator("a.cite").click()
    assert "/toolkit/source/" in page.url
    assert "The budget is reviewed every quarter" in page.locator("#passage .cited-text").text_content()
    assert page.console_errors == []


def test_shift_enter_adds_a_line_and_history_can_be_renamed_and_deleted(page, owner, toolkit_document):
    log_in(page, owner)
    page.goto("/toolkit")
    page.fill("#question", "How often is the budget")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("reviewed?")
    assert page.input_value("#question") == "How often is the budget\nreviewed?"
    page.keyboard.press("Enter")
    page.locator("a.cite").first.wait_for()
    assert "Extractive answer" in page.locator(".answer-label").text_content()

    item = page.locator("#conversation-list li").first
    page.dialog_answers = ["Budget questions"]
    item.locator("button.rename").click()
    page.wait_for_function(
        "() => document.querySelector('#conversation-list li a').textContent === 'Budget questions'"
    )
    assert page.dialogs == ["New name for this conversation:"]

    page.dialog_answers = [""]  # confirm() accepts with any value
    item.locator("button.delete").click()
    page.wait_for_url("**/toolkit")
    assert page.locator("#conversation-list li a").count() == 0
    assert page.dialogs[-1] == "Delete this conversation? This cannot be undone."


def test_script_in_a_document_never_runs_in_the_chat_or_the_source_view(page, owner):
    evil = "Fire drills happen monthly <script>alert('xss')</script> in every hall."
    ingest_toolkit([*TOOLKIT, ("h1", "4 Fire safety"), ("p", evil)])
    log_in(page, owner)
    page.goto("/toolkit")
    page.fill("#question", "How often do fire drills happen?")
    page.keyboard.press("Enter")
    page.locator("a.cite").first.wait_for()
    assert "<script>alert('xss')</script>" in page.locator(".answer-text").first.text_content()
    page.locator("a.cite").first.click()
    page.locator("#passage .cited-text").wait_for()
    page.reload()
    assert page.dialogs == []
