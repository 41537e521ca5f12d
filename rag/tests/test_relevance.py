"""The relevance gate: what a passage's sentences cover of the question decides, not one word."""

import pytest

from rag.relevance import assess, is_relevant, passage_units
from rag.retrieval import retrieve
from toolkit.access import EVERY_TOOLKIT
from toolkitrag.testing.toolkits import ingest_demo_toolkit


def test_a_passage_is_cut_into_sentences_list_items_and_table_rows_read_with_their_header():
    text = (
        "Agree what starts the plan. Then act.\n\n1. Coordinator receives a warning\n\n"
        "2. Coordinator calls the deputy\n\n| Role | Person |\n| --- | --- |\n| Coordinator | Chair |"
    )
    units = passage_units(text)
    assert [(u.kind, u.text) for u in units] == [
        ("sentence", "Agree what starts the plan."),
        ("sentence", "Then act."),
        ("item", "Coordinator receives a warning"),
        ("item", "Coordinator calls the deputy"),
        ("row", "| Coordinator | Chair |"),
    ]
    assert units[2].block == units[3].block != units[0].block  # one list, one block
    assert [units[2].marker, units[3].marker] == ["1.", "2."]
    assert units[4].header == "| Role | Person |"  # the separator row is no unit


@pytest.fixture
def demo(db):
    return ingest_demo_toolkit()


@pytest.mark.parametrize(
    "question",
    [
        "What happens when the emergency plan is activated?",  # "happens" is nowhere in the toolkit
        "Who should be the coordinator?",
        "How often should we test the phone tree?",
        "what does the toolkit say about the budget",
    ],
)
def test_questions_the_toolkit_answers_pass_the_gate_despite_words_it_does_not_use(demo, question):
    assert is_relevant(retrieve(question, 5, viewer=EVERY_TOOLKIT))


@pytest.mark.parametrize(
    "question",
    [
        "Do we need public liability insurance for the group?",
        "Where do we get sandbags from?",
        "What is the boiling point of mercury?",
    ],
)
def test_near_topic_questions_it_does_not_answer_are_refused(demo, question):
    assert not is_relevant(retrieve(question, 5, viewer=EVERY_TOOLKIT))


def test_the_best_sentence_pair_is_what_counts_not_words_scattered_over_a_section(demo):
    # Every word is in 4.3 Budget, but in a sentence and two table rows, never together.
    scattered = retrieve("treasurer lockable batteries", 5, viewer=EVERY_TOOLKIT)
    assessment = assess(scattered)
    budget = next(
        s for s in assessment.supports if s.chunk.heading == "4 Writing the emergency plan > 4.3 Budget"
    )
    assert budget.coverage == pytest.approx(2 / 3)  # two neighbouring rows at best, not all three words
    together = assess(retrieve("Who reviews the budget every quarter?", 5, viewer=EVERY_TOOLKIT))
    assert together.lead.chunk.heading_path[-1] == "4.3 Budget" and together.coverage == pytest.approx(1.0)


def test_with_embeddings_the_gate_adds_the_vector_similarity(demo, settings):
    retrieval = retrieve("Do we need public liability insurance for the group?", 5, viewer=EVERY_TOOLKIT)
    support = assess(retrieval).coverage
    assert not is_relevant(retrieval)
    for chunk in retrieval.chunks:  # as if the vector side had found these passages very similar
        chunk.vector_similarity = 0.1
    assert not is_relevant(retrieval)
    retrieval.chunks[-1].vector_similarity = (settings.RAG_MIN_HYBRID_SUPPORT - support) / 3.0 + 0.01
    settings.RAG_GATE_VECTOR_WEIGHT = 3.0
    assert is_relevant(retrieval)
