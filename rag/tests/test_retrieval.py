import pytest
from django.db import connection, transaction

from rag.relevance import is_relevant
from rag.retrieval import retrieve
from toolkit.access import EVERY_TOOLKIT
from toolkitrag.testing.toolkits import TOOLKIT, ingest_toolkit

pytestmark = pytest.mark.django_db


def headings(retrieval):
    return [c.heading for c in retrieval.chunks]


def test_keyword_retrieval_ranks_the_right_section_first(toolkit_document):
    result = retrieve("How often is the budget reviewed?", top_k=3, viewer=EVERY_TOOLKIT)
    assert result.mode == "keyword"
    assert headings(result)[0] == "1 Planning > 1.1 Budget"
    best = result.chunks[0]
    assert best.retrievers == ["keyword"] and best.keyword_rank == 1
    assert best.toolkit == "Community Toolkit" and best.version_tag == "v1"
    assert best.heading_path == ["1 Planning", "1.1 Budget"]


def test_a_question_needs_only_some_of_its_words_in_the_passage(toolkit_document):
    result = retrieve("what happens when there is a flood in our village", top_k=2, viewer=EVERY_TOOLKIT)
    assert headings(result)[0] == "2 Emergencies"
    assert is_relevant(result)


def test_unrelated_questions_are_not_relevant(toolkit_document):
    result = retrieve("quantum chromodynamics on a lattice", top_k=5, viewer=EVERY_TOOLKIT)
    assert result.chunks == [] and not is_relevant(result)
    weak = retrieve("what is the capital of France and its population", top_k=5, viewer=EVERY_TOOLKIT)
    assert not is_relevant(weak)


def test_only_the_active_version_answers_unless_a_version_is_asked_for(toolkit_document):
    newer = [(kind, text.replace("quarter", "month")) for kind, text in TOOLKIT]
    v2 = ingest_toolkit(newer, version="v2", activate=False)
    assert {c.version_tag for c in retrieve("budget reviewed", 5, viewer=EVERY_TOOLKIT).chunks} == {"v1"}
    chosen = retrieve("budget reviewed", 5, document_ids=[v2.pk], viewer=EVERY_TOOLKIT)
    assert {c.version_tag for c in chosen.chunks} == {"v2"}


def test_hybrid_retrieval_fuses_keyword_and_vector_results(fake_openai):
    ingest_toolkit()
    result = retrieve("How often is the budget reviewed?", top_k=3, viewer=EVERY_TOOLKIT)
    assert result.mode == "hybrid"
    best = result.chunks[0]
    assert best.heading == "1 Planning > 1.1 Budget"
    assert best.retrievers == ["keyword", "vector"]
    assert 0 < best.vector_similarity <= 1
    assert all(c.vector_rank for c in result.chunks)  # every chunk has a vector neighbour rank


def test_vector_search_finds_passages_sharing_no_keyword_stem(fake_openai):
    ingest_toolkit()
    # "treasurer" appears only in the budget section; the fake embeddings know words, not stems.
    result = retrieve("treasurer", top_k=5, viewer=EVERY_TOOLKIT)
    assert result.chunks[0].heading == "1 Planning > 1.1 Budget"


def test_embedding_outage_falls_back_to_keyword_search(fake_openai, settings):
    ingest_toolkit()
    fake_openai.script = [{"status": 500}] * 5
    result = retrieve("budget reviewed", 3, viewer=EVERY_TOOLKIT)
    assert result.mode == "keyword" and result.chunks
    assert "vector search skipped" in result.notes[0]


def test_vector_query_can_use_the_hnsw_index(fake_openai):
    ingest_toolkit()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        vector = "[" + ",".join(["0.05"] * 384) + "]"
        cursor.execute(
            "EXPLAIN SELECT id FROM toolkit_chunks WHERE vector_dims(embedding) = 384 "
            "ORDER BY (embedding::vector(384)) <=> %s::vector(384) LIMIT 5",
            [vector],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "toolkit_chunks_embedding_hnsw_384" in plan
