import pytest
from django.core.management import call_command
from django.db import connection

from toolkit import vector_index
from toolkit.tests.test_ingestion import ingest
from toolkitrag.testing.docx_factory import make_docx, toolkit_spec

pytestmark = pytest.mark.django_db


def reloptions(dimensions: int) -> list[str] | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reloptions FROM pg_class WHERE relname = %s", [vector_index.index_name(dimensions)]
        )
        return cursor.fetchone()[0]


def test_ef_search_is_wider_from_the_large_collection_size(settings):
    settings.RAG_HNSW_EF_SEARCH = 100
    settings.RAG_HNSW_EF_SEARCH_LARGE = 800
    settings.RAG_HNSW_LARGE_CHUNKS = 500_000
    assert vector_index.ef_search_for(0) == 100
    assert vector_index.ef_search_for(499_999) == 100
    assert vector_index.ef_search_for(500_000) == 800
    assert vector_index.ef_search_for(5_000_000) == 800


def test_ensure_index_builds_with_the_configured_parameters_and_rebuilds_when_they_change(settings):
    settings.RAG_HNSW_M, settings.RAG_HNSW_EF_CONSTRUCTION = 24, 100
    vector_index.ensure_index(384)
    assert sorted(reloptions(384)) == ["ef_construction=100", "m=24"]
    assert vector_index.index_parameters(384) == {"m": 24, "ef_construction": 100}
    assert vector_index.ensure_index(384) is False  # as configured: left alone

    settings.RAG_HNSW_M = 32
    assert vector_index.ensure_index(384) is True
    assert sorted(reloptions(384)) == ["ef_construction=100", "m=32"]
    assert vector_index.existing_index_dimensions() == [384]


def test_an_index_built_without_parameters_has_pgvectors_defaults(settings):
    vector_index.drop_indexes()
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE INDEX {vector_index.index_name(384)} ON toolkit_chunks "
            "USING hnsw ((embedding::vector(384)) vector_cosine_ops) WHERE vector_dims(embedding) = 384"
        )
    assert reloptions(384) is None
    assert vector_index.index_parameters(384) == {"m": 16, "ef_construction": 64}
    settings.RAG_HNSW_M, settings.RAG_HNSW_EF_CONSTRUCTION = 16, 64
    assert vector_index.ensure_index(384) is False
    settings.RAG_HNSW_EF_CONSTRUCTION = 128
    assert vector_index.ensure_index(384) is True


def test_reindex_rebuilds_the_index_for_new_build_parameters(fake_openai, settings, capsys):
    document = ingest(make_docx(toolkit_spec()))
    settings.RAG_HNSW_M = settings.RAG_HNSW_M + 8
    call_command("reindex", "--vector-index-only")
    assert "Built the vector index" in capsys.readouterr().out
    assert vector_index.index_parameters(settings.EMBEDDING_DIMENSIONS)["m"] == settings.RAG_HNSW_M
    # A fresh build counts its rows: the size ef_search_for is asked about.
    assert vector_index.indexed_chunks(settings.EMBEDDING_DIMENSIONS) == document.chunks.count() == 4
    call_command("reindex", "--vector-index-only")
    assert capsys.readouterr().out.strip() == "The vector index is up to date."


def test_no_index_counts_as_empty():
    vector_index.drop_indexes()
    assert vector_index.indexed_chunks(384) == 0
    assert vector_index.index_parameters(384) is None
