"""The chat's controls in a real browser (Chromium via Playwright against a live server): Stop keeps
the partial answer and the chat goes on; the toolkit chooser scopes questions and is remembered."""

import threading
import time

import pytest

from rag.models import Message
from rag.tests.test_toolkit_choice import BEE_QUESTION, BEES
from toolkitrag.testing.browser import log_in, needs_chromium
from toolkitrag.testing.toolkits import ingest_toolkit

pytestmark = [pytest.mark.django_db(transaction=True), needs_chromium, pytest.mark.system]

PARTIAL_NOTE = "Stopped — partial answer"
SHOWN_BEFORE_STOP = 3  # tokens the model sends before it is held back


def wait_until(predicate, what: str) -> None:
    """Poll; the deadline only stops a hung test, no assertion is about how long it took."""
    deadline = time.monotonic() + 30
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_stop_keeps_the_partial_answer_and_the_next_question_works(page, owner, fake_openai):
    ingest_toolkit()
    replies = iter(
        [
            " ".join(f"word{i}" for i in range(3000)) + " [1].",  # far longer than anyone waits for
            "Large purchases need the approval of two trustees [1].",
        ]
    )
    fake_openai.chat_reply = lambda messages: next(replies)
    released = threading.Event()

    def before_token(i: int) -> None:
        if i >= SHOWN_BEFORE_STOP:
            released.wait(timeout=60)  # held until the test has pressed Stop

    fake_openai.before_token = before_token
    log_in(page, owner)
    page.goto("/toolkit")
    assert page.locator("#stop-button").is_hidden()

    page.fill("#question", "How often is the budget reviewed?")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => { const t = document.querySelector('.answer-streaming .answer-text'); "
        "return t && t.textContent === 'word0 word1 word2 '; }"
    )
    assert page.locator("#ask-button").is_hidden()
    page.locator("#stop-button").click()

    partial = page.locator("#messages .exchange .answer-partial")
    partial.wait_for()
    assert partial.locator(".answer-text").text_content() == "word0 word1 word2 "
    assert partial.locator(".answer-partial-note").text_content() == PARTIAL_NOTE
    assert partial.locator(".answer-partial-note").is_visible()
    assert partial.locator(".answer-error").is_hidden()  # stopped on purpose: not an error
    assert page.locator("#stop-button").is_hidden()
    assert page.locator("#ask-button").is_visible() and page.locator("#ask-button").is_enabled()
    conversation_url = page.url
    assert "/toolkit/c/" in conversation_url

    # The model goes on; the server notices the browser has gone on its next write and records
    # what it had sent, as a partial answer.
    released.set()
    wait_until(
        lambda: Message.objects.filter(error__startswith=PARTIAL_NOTE).exists(), "partial answer recorded"
    )
    stopped = Message.objects.get()
    assert stopped.answer.startswith("word0 word1 word2 ") and not stopped.answer.endswith("[1].")
    assert not stopped.answered

    page.fill("#question", "Who approves large purchases?")
    page.keyboard.press("Enter")
    second = page.locator("#messages .exchange").nth(1)
    second.locator("a.cite").wait_for()
    assert (
        second.locator(".answer-text").text_content()
        == "Large purchases need the approval of two trustees [1]."
    )
    assert page.locator("#messages .exchange").first.locator(".answer-partial-note").is_visible()
    assert Message.objects.values("conversation").distinct().count() == 1

    page.reload()
    assert page.url == conversation_url
    first = page.locator("#messages .exchange").first
    assert first.locator(".answer-text").inner_text().startswith("word0 word1 word2")
    assert PARTIAL_NOTE in first.locator(".answer-error").text_content()
    assert page.locator("#messages .exchange").nth(1).locator("a.cite").count() == 1
    assert page.console_errors == []


def test_the_toolkit_chooser_scopes_questions_and_is_remembered_per_user(page, owner, second_user):
    community = ingest_toolkit()
    bees = ingest_toolkit(BEES, name="Beekeeping Toolkit")
    log_in(page, owner)
    page.goto("/toolkit")
    community_box, bees_box = page.get_by_label("Community Toolkit"), page.get_by_label("Beekeeping Toolkit")
    assert community_box.is_checked() and bees_box.is_checked()

    bees_box.uncheck()
    community_box.click()  # the last ticked toolkit cannot be unticked
    assert community_box.is_checked()
    assert page.locator(".toolkit-chooser-hint").is_visible()

    page.fill("#question", BEE_QUESTION)
    page.keyboard.press("Enter")
    page.locator("#messages .exchange[data-message-id]").wait_for()
    assert "Beekeeping" not in page.locator("#messages .exchange").text_content()
    assert Message.objects.get().document_ids == [community.pk]

    page.reload()  # the choice is remembered
    assert community_box.is_checked() and not bees_box.is_checked()
    bees_box.check()
    assert page.locator(".toolkit-chooser-hint").is_hidden()
    community_box.uncheck()
    page.fill("#question", BEE_QUESTION)
    page.keyboard.press("Enter")
    answer = page.locator("#messages .exchange").nth(1)
    answer.locator("a.cite").wait_for()
    assert "Beekeeping Toolkit" in answer.locator(".citations").text_content()
    assert Message.objects.order_by("pk").last().document_ids == [bees.pk]

    # Another user of the same browser starts from every toolkit.
    page.context.clear_cookies()
    log_in(page, second_user)
    page.goto("/toolkit")
    assert community_box.is_checked() and bees_box.is_checked()
    assert page.console_errors == []
