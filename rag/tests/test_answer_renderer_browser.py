"""One answer renderer, in a real browser: an answer streamed into the page ends up exactly as the
same message rendered in the history on reload (Chromium via Playwright against a live server)."""

import pytest
from django.conf import settings

from toolkitrag.testing.browser import log_in, needs_chromium
from toolkitrag.testing.toolkits import ingest_toolkit

pytestmark = [pytest.mark.django_db(transaction=True), needs_chromium]

EXCHANGE = "document.querySelector('#messages .exchange')"


def test_a_streamed_answer_once_final_is_the_answer_the_history_shows(page, owner, fake_openai):
    ingest_toolkit()
    # [7] matches no source: it streams in as text and is gone once the checked answer is swapped in.
    fake_openai.chat_reply = lambda messages: (
        "The budget is reviewed every quarter <img src=x onerror=alert(1)> by the treasurer [1][7]."
    )
    log_in(page, owner)
    page.goto("/toolkit")
    page.fill("#question", "How often is the budget <b>reviewed</b>?")
    page.keyboard.press("Enter")
    page.locator("#messages .exchange[data-message-id] a.cite").wait_for()

    streamed_html = page.evaluate(f"{EXCHANGE}.outerHTML")
    streamed_text = page.locator("#messages .exchange").inner_text()
    assert "[7]" not in streamed_text and "<img src=x onerror=alert(1)>" in streamed_text
    assert page.locator("#messages .exchange a.add-to-plan").count() == 1
    assert page.locator("#messages .exchange .citations li").count() == 1

    page.reload()
    assert page.evaluate(f"{EXCHANGE}.outerHTML") == streamed_html
    assert page.locator("#messages .exchange").inner_text() == streamed_text
    assert page.locator("#messages .exchange img").count() == 0 and page.dialogs == []

    page.locator("#messages .exchange a.add-to-plan").click()  # the control works from either
    page.wait_for_url("**/strategies/add-answer/*")
    assert page.console_errors == []


def test_feedback_on_a_streamed_answer_uses_the_rendered_controls(page, owner, toolkit_document):
    log_in(page, owner)
    page.goto("/toolkit")
    page.fill("#question", "How often is the budget reviewed?")
    page.keyboard.press("Enter")
    page.locator("#messages .exchange[data-message-id] a.cite").wait_for()
    assert page.locator(".feedback-comment").is_hidden()
    page.locator("button.rate[data-rating=down]").click()
    page.locator(".feedback-comment textarea").fill("Too short")
    page.locator("button.send-comment").click()
    page.get_by_text("Thank you for your feedback.").wait_for()
    assert page.locator(".feedback-comment").is_hidden()
    page.reload()
    assert page.locator("button.rate[data-rating=down]").get_attribute("aria-pressed") == "true"
    assert page.console_errors == []


def test_a_question_that_cannot_be_sent_says_so_in_the_exchange(page, owner, toolkit_document):
    log_in(page, owner)
    page.goto("/toolkit")
    kept = [c for c in page.context.cookies() if c["name"] != settings.SESSION_COOKIE_NAME]
    page.context.clear_cookies()
    page.context.add_cookies(kept)  # the session ended (logged out in another tab); CSRF still fine
    page.fill("#question", "How often is the budget reviewed?")
    page.keyboard.press("Enter")
    error = page.locator("#messages .exchange .answer-error")
    error.wait_for()
    assert error.get_attribute("role") == "alert"
    assert error.text_content() == "Your session has ended. Log in again to ask questions."
    assert page.locator("#messages .exchange .thinking").count() == 0
