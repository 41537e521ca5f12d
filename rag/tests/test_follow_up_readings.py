"""Reading a follow-up without a model, and picking one list item: plain functions, no database."""

import pytest

from rag.extractive import item_numbered, wanted_item
from rag.relevance import passage_units
from rag.rewriting import CONTEXT_CHARS, Turn, is_reply, readings


@pytest.mark.parametrize(
    ("question", "item"),
    [
        ("what's the second step?", 2),
        ("and the first one", 1),
        ("step 3?", 3),
        ("the last thing?", -1),
        ("Who should we contact first?", None),
        ("What happens at the first meeting?", None),
        ("When is the last date to apply?", None),
    ],
)
def test_an_ordinal_asks_for_one_item_only_next_to_a_step_word(question, item):
    assert wanted_item(question) == item


def test_a_list_continued_by_chunking_keeps_its_numbers():
    items = passage_units("4. Call the deputy\n\n5. Start the phone tree\n\n6. Check residents")
    assert [u.marker for u in items] == ["4.", "5.", "6."]
    assert item_numbered(items, 5).text == "Start the phone tree"  # "step 5" is the item numbered 5
    assert item_numbered(items, 2).text == "Start the phone tree"  # "the second step" of the quote
    assert item_numbered(items, -1).text == "Check residents"


@pytest.mark.parametrize(
    ("text", "reply"),
    [
        ("No, I don't think I am ready.", True),
        ("Oh, no. I am not.", True),
        ("ok", True),
        ("Right to work checks?", False),
        ("Sure Start centres near us?", False),
        ("Fine for late return?", False),
    ],
)
def test_a_reply_to_the_conversation_is_told_from_a_question(text, reply):
    assert is_reply(text) is reply


def test_the_context_reading_never_cuts_the_new_question():
    previous = Turn("x " * 2000, "long earlier reading " * 100, "answer", "4.1 Activation triggers")
    question = "and what is the second step of the plan once the warning has come in?"
    alone, in_context = readings(question, [previous])
    assert alone == question and in_context.endswith(question)
    assert len(in_context) <= CONTEXT_CHARS + len(" 4.1 Activation triggers ") + len(question)
    assert readings(question, []) == [question]
