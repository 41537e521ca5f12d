"""Extractive answers (no chat model) read like an answer: one section leads, quoted where it
answers, lists as lists, tables as tables; follow-ups are read alone or in their context."""

import json

import pytest

from rag.extractive import wanted_item
from rag.models import Message

URL = "/api/rag/answer"


@pytest.fixture
def demo(db):
    from toolkitrag.testing.toolkits import ingest_demo_toolkit

    return ingest_demo_toolkit()


def ask(client, question: str, conversation_id: int | None = None) -> dict:
    body = {"query": question, "conversation_id": conversation_id}
    response = client.post(URL, data=json.dumps(body), content_type="application/json")
    assert response.status_code == 200
    return response.json()


def first_section(answer: dict) -> str:
    return answer["citations"][0]["heading_path"][-1]


def test_the_roles_table_answers_who_should_be_the_coordinator(owner_client, demo):
    answer = ask(owner_client, "Who should be the coordinator?")
    assert answer["answered"] and first_section(answer) == "3.1 Roles and responsibilities"
    lines = answer["answer"].split("\n")
    assert lines[0] == "3.1 Roles and responsibilities:"  # the section's heading as a label
    assert "| Role | Responsibility | Suggested person |" in lines and "| --- | --- | --- |" in lines
    assert any(line.startswith("| Coordinator |") and line.endswith("[1] |") for line in lines)
    assert not any(line.startswith("| Welfare lead") for line in lines)  # only the rows that match


def test_activation_is_answered_from_its_section_with_the_steps_as_a_numbered_list(owner_client, demo):
    answer = ask(owner_client, "What happens when the emergency plan is activated?")
    assert answer["answered"] and first_section(answer) == "4.1 Activation triggers"
    text = answer["answer"]
    assert "1. Coordinator receives a warning or request [1]" in text
    assert "4. Welfare lead begins checks on registered residents [1]" in text


def test_other_sections_are_named_as_see_also_never_quoted(owner_client, demo):
    answer = ask(owner_client, "How often should we test the phone tree?")
    assert first_section(answer) == "5.1 The phone tree"
    body, _, see_also = answer["answer"].partition("\n\nSee also: ")
    assert "Test the tree twice a year" in body and "[2]" not in body and "[3]" not in body
    if see_also:  # other answering sections, as citations only
        assert all(c["n"] == 1 or f"[{c['n']}]" in see_also for c in answer["citations"])


def test_the_second_step_after_an_answer_from_the_activation_section(owner_client, demo):
    first = ask(owner_client, "What happens when the emergency plan is activated?")
    follow_up = ask(owner_client, "and what is the second step?", first["conversation_id"])
    assert follow_up["answered"] and first_section(follow_up) == "4.1 Activation triggers"
    assert "2. Coordinator calls the deputy and the communications lead [1]" in follow_up["answer"]
    message = Message.objects.get(pk=follow_up["message_id"])
    assert message.rewritten_query.startswith("What happens when the emergency plan is activated?")


def test_a_new_self_contained_question_is_not_dragged_back_to_the_old_topic(owner_client, demo):
    first = ask(owner_client, "How much does the equipment store cost?")
    assert first_section(first) == "4.3 Budget" and "£150 a year" in first["answer"]
    second = ask(owner_client, "How do we recruit volunteers?", first["conversation_id"])
    assert first_section(second) == "3.2 Recruiting and keeping volunteers"
    assert Message.objects.get(pk=second["message_id"]).rewritten_query == "How do we recruit volunteers?"


def test_a_refusal_offers_the_closest_sections_and_is_recorded_as_unanswered(owner_client, demo):
    answer = ask(owner_client, "What should the rest centre do about pets and their food?")
    assert answer["answered"] is False
    assert answer["answer"].startswith("The toolkit may not cover this")
    assert "Closest sections: " in answer["answer"] and answer["citations"]
    assert all(c["url"].endswith("#passage") for c in answer["citations"])
    message = Message.objects.get(pk=answer["message_id"])
    assert not message.answered and message.cited_chunk_ids == []  # not counted as cited
    page = owner_client.get(f"/toolkit/c/{answer['conversation_id']}").content.decode()
    assert 'aria-label="Closest sections"' in page


@pytest.mark.parametrize(
    ("question", "item"),
    [("what's the second step?", 2), ("and the first one", 1), ("step 3?", 3), ("the last thing?", -1)],
)
def test_ordinal_questions_ask_for_one_item(question, item):
    assert wanted_item(question) == item


def test_no_item_is_asked_for_without_an_ordinal():
    assert wanted_item("who starts the phone tree?") is None


def test_self_contained_questions_later_in_a_conversation_are_read_alone(owner_client, demo):
    # As a user tried it: a roles question and its follow-up, then two new questions.
    first = ask(owner_client, "Who should be the coordinator?")
    conversation = first["conversation_id"]
    follow_up = ask(owner_client, "and what about the deputy?", conversation)
    assert first_section(follow_up) == "3.1 Roles and responsibilities"
    assert "Committee member" in follow_up["answer"]
    activation = ask(owner_client, "What happens when the emergency plan is activated?", conversation)
    assert first_section(activation) == "4.1 Activation triggers"
    insurance = ask(owner_client, "Do we need public liability insurance?", conversation)
    assert insurance["answered"] is False  # not answered from the roles table it followed


def test_a_follow_up_about_something_the_old_section_lacks_is_not_answered_from_it(owner_client, demo):
    first = ask(owner_client, "How much does the equipment store cost?")
    assert first_section(first) == "4.3 Budget"
    follow_up = ask(owner_client, "and do volunteers need a DBS check for that?", first["conversation_id"])
    assert not follow_up["answered"] or first_section(follow_up) == "7 Safeguarding and data protection"
