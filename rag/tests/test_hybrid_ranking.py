"""Hybrid retrieval fuses BM25 and vector scores: a passage good on both sides comes first, the
vector weight moves the order between the sides, and without embeddings the order is BM25's.

The fake embeddings know exact words, not stems, and read stop words: "how are budgets reviewed"
is near a text saying "how ... are" and far from one saying "budget review", which BM25 (stems,
no stop words) scores the other way round.
"""

import pytest

from rag.retrieval import retrieve
from toolkit import search
from toolkit.access import EVERY_TOOLKIT
from toolkitrag.testing.toolkits import ingest_toolkit

pytestmark = pytest.mark.django_db

QUESTION = "how are budgets reviewed"

SECTIONS = [
    ("h1", "Treasurer"),
    (
        "p",
        "Budgets are reviewed every quarter by the treasurer, who explains how the money was spent "
        "and what is left in the reserve fund for the months ahead.",
    ),
    ("h1", "Annual meeting"),
    (
        "p",
        "At the annual meeting the members vote on the accounts after a budget review by the committee; "
        "minutes of the meeting are kept with the accounts for seven years.",
    ),
    ("h1", "Volunteers"),
    (
        "p",
        "How are volunteers recruited, how are they trained and how are they thanked? Groups that "
        "answer this well keep their helpers for years and are known for it in their area.",
    ),
    ("h1", "Evaluation"),
    (
        "p",
        "Evaluate outcomes against the goals agreed at the start, using resident surveys and "
        "interviews with partner organisations across the district.",
    ),
]


def order(result) -> list[str]:
    return [chunk.heading for chunk in result.chunks]


def test_a_passage_good_on_both_sides_beats_one_good_on_one_side(fake_openai):
    ingest_toolkit(SECTIONS)
    result = retrieve(QUESTION, top_k=4, viewer=EVERY_TOOLKIT)
    assert result.mode == "hybrid"
    best = result.chunks[0]
    assert best.heading == "Treasurer" and best.retrievers == ["keyword", "vector"]
    by_heading = {chunk.heading: chunk for chunk in result.chunks}
    # each other side's favourite loses to it although it is first on its own side
    assert by_heading["Annual meeting"].keyword_rank <= best.keyword_rank + 1
    assert by_heading["Volunteers"].keyword_rank is None
    assert [c.score for c in result.chunks] == sorted((c.score for c in result.chunks), reverse=True)


def test_the_vector_weight_moves_the_order_towards_its_side(fake_openai, settings):
    ingest_toolkit(SECTIONS)
    settings.RAG_VECTOR_WEIGHT = 0.9
    towards_vector = order(retrieve(QUESTION, top_k=4, viewer=EVERY_TOOLKIT))
    assert towards_vector.index("Volunteers") < towards_vector.index("Annual meeting")
    settings.RAG_VECTOR_WEIGHT = 0.1
    towards_keyword = order(retrieve(QUESTION, top_k=4, viewer=EVERY_TOOLKIT))
    assert towards_keyword.index("Annual meeting") < towards_keyword.index("Volunteers")


def test_without_embeddings_the_order_and_scores_are_bm25s(db):
    ingest_toolkit(SECTIONS)
    result = retrieve(QUESTION, top_k=4, viewer=EVERY_TOOLKIT)
    assert result.mode == "keyword"
    bm25 = search.keyword_search(QUESTION, None, 4, viewer=EVERY_TOOLKIT)
    assert [(c.chunk_id, c.score, c.keyword_rank) for c in result.chunks] == [
        (hit.chunk_id, hit.score, hit.rank) for hit in bm25
    ]
    assert all(c.retrievers == ["keyword"] and c.vector_similarity is None for c in result.chunks)
