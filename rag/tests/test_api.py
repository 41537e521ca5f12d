import json

import pytest
from django.test import Client

from rag.answering import NOT_COVERED
from rag.models import Conversation, Feedback, Message

pytestmark = pytest.mark.django_db

URL = "/api/rag/answer"
STREAM_URL = "/api/rag/answer/stream"


def post(client, body, url=URL, **extra):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(url, data=data, content_type="application/json", **extra)


def read_events(response) -> list[tuple[str, dict]]:
    raw = b"".join(response.streaming_content).decode()
    events = []
    for block in raw.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((lines["event"], json.loads(lines["data"])))
    return events


# --- answers -------------------------------------------------------------------------------


def test_extractive_answer_with_citations_without_a_model(owner_client, owner, toolkit_document):
    response = post(owner_client, {"query": "How often is the budget reviewed?", "top_k": 3})
    assert response.status_code == 200
    body = response.json()
    assert body["answered"] is True and body["extractive"] is True
    # The section's heading as a label, then the sentence that answers, cited.
    assert body["answer"].startswith(
        "1.1 Budget:\n\nThe budget is reviewed every quarter by the treasurer. [1]"
    )
    (citation,) = body["citations"]
    assert (
        citation["n"] == 1 and citation["toolkit"] == "Community Toolkit" and citation["version_tag"] == "v1"
    )
    assert citation["heading_path"] == ["1 Planning", "1.1 Budget"]
    assert citation["url"] == f"/toolkit/source/{citation['chunk_id']}#passage"
    message = Message.objects.get(pk=body["message_id"])
    assert message.user == owner and message.conversation_id == body["conversation_id"]
    assert message.cited_chunk_ids == [citation["chunk_id"]]
    assert message.backend == "extractive" and message.top_k == 3
    assert (
        message.retrieval_ms is not None
        and message.total_ms is not None
        and message.first_token_ms is not None
    )
    assert message.retrieval[0]["chunk_id"] == citation["chunk_id"]


def test_questions_the_toolkit_does_not_cover_are_refused_and_logged(owner_client, toolkit_document):
    body = post(owner_client, {"query": "What is the boiling point of mercury?"}).json()
    assert body["answered"] is False and body["answer"] == NOT_COVERED and body["citations"] == []
    message = Message.objects.get(pk=body["message_id"])
    assert not message.answered and message.backend == "refusal"


def test_answer_from_the_language_model_streams_tokens_then_checked_citations(owner_client, fake_openai):
    from toolkitrag.testing.toolkits import ingest_toolkit

    ingest_toolkit()
    fake_openai.chat_reply = lambda messages: "Every quarter, by the treasurer [1]. Also see [9]."
    response = post(owner_client, {"query": "How often is the budget reviewed?"}, STREAM_URL)
    assert response["Content-Type"] == "text/event-stream"
    events = read_events(response)
    names = [name for name, _ in events]
    assert names[0] == "start" and names[-2:] == ["citations", "final"] and names.count("token") > 3
    streamed = "".join(data["text"] for name, data in events if name == "token")
    assert streamed == "Every quarter, by the treasurer [1]. Also see [9]."
    checked, final = events[-2][1], events[-1][1]
    assert checked == {key: final[key] for key in ("answer", "citations", "answered")}
    assert final["answer"] == "Every quarter, by the treasurer [1]. Also see."
    assert [c["n"] for c in final["citations"]] == [1]
    message = Message.objects.get(pk=final["message_id"])
    assert message.removed_citations == [9]
    assert message.backend == "openai:test-chat"
    assert message.completion_tokens > 0 and message.llm_ms is not None
    prompt = fake_openai.chat_requests()[-1]["messages"]
    assert "Use ONLY the numbered sources" in prompt[0]["content"]
    assert "[1] Community Toolkit v1 — 1 Planning > 1.1 Budget" in prompt[1]["content"]


def test_a_new_question_that_stands_alone_is_not_dragged_back_to_the_old_topic(
    owner_client, toolkit_document
):
    first = post(owner_client, {"query": "How often is the budget reviewed?"}).json()
    body = post(
        owner_client, {"query": "Do volunteers work in pairs?", "conversation_id": first["conversation_id"]}
    ).json()
    message = Message.objects.get(pk=body["message_id"])
    assert message.rewritten_query == "Do volunteers work in pairs?"  # not glued to the first
    assert body["conversation_id"] == first["conversation_id"] and body["answered"]
    assert body["citations"][0]["heading_path"] == ["1 Planning", "1.2 Volunteers"]
    assert Conversation.objects.get().messages.count() == 2


def test_a_follow_up_that_leans_on_the_conversation_is_read_in_its_context(owner_client, toolkit_document):
    first = post(owner_client, {"query": "How often is the budget reviewed?"}).json()
    body = post(
        owner_client, {"query": "and who does that?", "conversation_id": first["conversation_id"]}
    ).json()
    message = Message.objects.get(pk=body["message_id"])
    # The previous question as understood, and the heading of the section that answered it.
    assert message.rewritten_query == "How often is the budget reviewed? 1.1 Budget and who does that?"
    assert body["answered"] and body["citations"][0]["heading_path"] == ["1 Planning", "1.1 Budget"]
    assert "treasurer" in body["answer"]


def test_follow_up_rewrite_uses_the_model_when_configured(owner_client, fake_openai):
    from toolkitrag.testing.toolkits import ingest_toolkit

    ingest_toolkit()
    first = post(owner_client, {"query": "How often is the budget reviewed?"}).json()
    post(owner_client, {"query": "and who does it?", "conversation_id": first["conversation_id"]})
    message = Message.objects.order_by("-pk").first()
    assert message.rewritten_query == "Standalone: and who does it?"


# --- validation, auth, limits -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, "'query' is required"),
        ({"query": 5}, "'query' is required and must be a string"),
        ({"query": "   "}, "must not be empty"),
        ({"query": "x" * 2001}, "too long"),
        ({"query": "budget", "top_k": 0}, "between 1 and 20"),
        ({"query": "budget", "top_k": 21}, "between 1 and 20"),
        ({"query": "budget", "top_k": "5"}, "'top_k' must be an integer"),
        ({"query": "budget", "top_k": True}, "'top_k' must be an integer"),
        ({"query": "budget", "conversation_id": "abc"}, "'conversation_id' must be an integer"),
        ({"query": "budget", "extra": 1}, "Unknown field(s): extra"),
        ([1, 2], "must be a JSON object"),
        ("{not json", "not valid JSON"),
    ],
)
def test_bad_requests_get_400_with_a_message(owner_client, body, error):
    for url in (URL, STREAM_URL):
        response = post(owner_client, body, url)
        assert response.status_code == 400
        assert error in response.json()["error"]
    assert not Message.objects.exists()


def test_wrong_content_type_is_a_400(owner_client):
    response = owner_client.post(URL, {"query": "budget"})
    assert response.status_code == 400 and "application/json" in response.json()["error"]


def test_anonymous_api_calls_get_401_json(client):
    response = post(client, {"query": "budget"})
    assert response.status_code == 401 and response.json() == {"error": "Log in to use the API."}
    assert client.get("/api/rag/conversations").status_code == 401


def test_get_is_not_allowed(owner_client):
    assert owner_client.get(URL).status_code == 405


def test_missing_csrf_token_is_a_403_json(owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = post(client, {"query": "budget"})
    assert response.status_code == 403 and "CSRF" in response.json()["error"]


def test_21st_question_in_a_minute_gets_429_json(
    owner_client, owner, second_user, toolkit_document, rate_window
):
    rate_window(f"user:{owner.pk}")
    for _ in range(20):
        assert post(owner_client, {"query": "budget"}).status_code == 200
    response = post(owner_client, {"query": "budget"}, STREAM_URL)
    assert response.status_code == 429
    assert response.json()["retry_after"] == int(response["Retry-After"])
    other = Client()
    other.force_login(second_user)
    assert post(other, {"query": "budget"}).status_code == 200


# --- conversations, feedback, isolation ------------------------------------------------------


def test_history_rename_delete_and_feedback(owner_client, toolkit_document):
    answer = post(owner_client, {"query": "How often is the budget reviewed?"}).json()
    cid, mid = answer["conversation_id"], answer["message_id"]
    listing = owner_client.get("/api/rag/conversations").json()["conversations"]
    assert [c["title"] for c in listing] == ["How often is the budget reviewed?"]

    renamed = owner_client.patch(
        f"/api/rag/conversations/{cid}", json.dumps({"title": "Budget"}), "application/json"
    )
    assert renamed.json()["title"] == "Budget"

    url = f"/api/rag/messages/{mid}/feedback"
    assert post(owner_client, {"rating": "down"}, url).status_code == 200
    assert (
        post(owner_client, {"rating": "up", "comment": "Clear, thanks"}, url).json()["comment"]
        == "Clear, thanks"
    )
    feedback = Feedback.objects.get()
    assert feedback.rating == 1 and feedback.comment == "Clear, thanks"
    assert post(owner_client, {"rating": "meh"}, url).status_code == 400

    detail = owner_client.get(f"/api/rag/conversations/{cid}").json()
    assert detail["messages"][0]["feedback"] == {"rating": "up", "comment": "Clear, thanks"}

    assert owner_client.delete(f"/api/rag/conversations/{cid}").status_code == 200
    assert not Conversation.objects.exists() and not Message.objects.exists()


def test_users_only_ever_see_their_own_conversations(owner_client, second_user, toolkit_document):
    answer = post(owner_client, {"query": "How often is the budget reviewed?"}).json()
    cid, mid = answer["conversation_id"], answer["message_id"]
    intruder = Client()
    intruder.force_login(second_user)
    assert intruder.get(f"/api/rag/conversations/{cid}").status_code == 404
    assert (
        intruder.patch(
            f"/api/rag/conversations/{cid}", json.dumps({"title": "x"}), "application/json"
        ).status_code
        == 404
    )
    assert intruder.delete(f"/api/rag/conversations/{cid}").status_code == 404
    assert post(intruder, {"rating": "down"}, f"/api/rag/messages/{mid}/feedback").status_code == 404
    assert post(intruder, {"query": "budget", "conversation_id": cid}).status_code == 404
    assert intruder.get(f"/toolkit/c/{cid}").status_code == 404
    assert intruder.get("/api/rag/conversations").json() == {"conversations": []}
    assert Conversation.objects.get().title == "How often is the budget reviewed?"


# --- pages ---------------------------------------------------------------------------------


def test_chat_page_shows_examples_from_the_toolkit_headings(owner_client, toolkit_document):
    page = owner_client.get("/toolkit").content.decode()
    assert (
        "What does the toolkit say about the budget?" in page
    )  # checked: answered from its section (test_suggestions.py)
    assert 'name="csrf-token"' in page


def test_conversation_page_renders_the_history_with_citation_links(owner_client, toolkit_document):
    answer = post(owner_client, {"query": "How often is the budget reviewed?"}).json()
    page = owner_client.get(f"/toolkit/c/{answer['conversation_id']}").content.decode()
    chunk_id = answer["citations"][0]["chunk_id"]
    assert f'<a class="cite" href="/toolkit/source/{chunk_id}#passage" data-n="1">[1]</a>' in page
    assert "Extractive answer" in page


def test_source_page_highlights_the_passage_with_its_neighbours_and_outline(owner_client, toolkit_document):
    chunk = toolkit_document.chunks.get(heading="1 Planning > 1.1 Budget")
    page = owner_client.get(f"/toolkit/source/{chunk.pk}").content.decode()
    assert '<div class="cited-text"><p>The budget is reviewed every quarter' in page
    assert "Planning starts with a shared picture" in page  # the neighbour before
    assert "Volunteers who visit residents" in page  # the neighbour after
    assert page.count('href="/toolkit/source/') >= 5  # the version's outline
    assert owner_client.get("/toolkit/source/999999").status_code == 404


def test_anonymous_users_are_sent_to_log_in(client, toolkit_document):
    assert client.get("/toolkit")["Location"].startswith("/auth/login")


def test_html_in_a_document_is_shown_as_text_never_run(owner_client, db):
    from toolkitrag.testing.toolkits import ingest_toolkit

    evil = '<script>alert("owned")</script><img src=x onerror=alert(1)>'
    document = ingest_toolkit(
        [("h1", "Safety <b>rules</b>"), ("p", f"The rule about fire drills {evil} is simple.")]
    )
    answer = post(owner_client, {"query": "fire drills rule"}).json()
    assert evil in answer["answer"]  # the API returns text; the pages must escape it
    chat_page = owner_client.get(f"/toolkit/c/{answer['conversation_id']}").content.decode()
    source_page = owner_client.get(f"/toolkit/source/{document.chunks.first().pk}").content.decode()
    for page in (chat_page, source_page):
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;" in page
