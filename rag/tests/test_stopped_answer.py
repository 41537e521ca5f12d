"""An answer stopped mid-stream (the Stop button, or the browser going away) is recorded with the
text streamed so far and a note saying it is partial, and the history shows it that way."""

import pytest

from rag.models import Message
from rag.questions import ask
from toolkitrag.testing.toolkits import ingest_toolkit

pytestmark = pytest.mark.django_db

PARTIAL = "Stopped — partial answer: the answer was interrupted before it was complete."


def test_an_answer_closed_after_its_first_tokens_is_recorded_as_partial(owner_client, owner, fake_openai):
    ingest_toolkit()
    fake_openai.chat_reply = lambda messages: "The budget is reviewed every quarter by the treasurer [1]."
    events = ask(owner, "How often is the budget reviewed?", 5)
    tokens = []
    for event in events:
        if event.name == "token":
            tokens.append(event.data["text"])
            if len(tokens) == 2:
                break
    events.close()  # what the server does when the browser aborts the request

    message = Message.objects.get()
    assert message.error == PARTIAL
    assert message.answer == "The budget " == "".join(tokens)
    assert not message.answered and message.citations == []
    page = owner_client.get(f"/toolkit/c/{message.conversation_id}").content.decode()
    assert '<div class="answer-text"><p>The budget</p></div>' in page
    assert f'<p class="answer-error" role="alert">{PARTIAL}</p>' in page
