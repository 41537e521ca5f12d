"""Migration 0010 (toolkits' language) leaves existing toolkits and chunks as they were: English."""

import pytest
from django.core.management import call_command
from django.db import connection

from toolkit.models import Chunk, Toolkit

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = "0009_chunk_title"


def test_existing_chunks_stay_indexed_in_english():
    call_command("migrate", "toolkit", BEFORE, verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO toolkits (name, description, created_at) VALUES ('Kit', '', now()) RETURNING id"
        )
        kit = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO toolkit_documents (toolkit_id, version_tag, title, source_file, original_filename,"
            " file_size, sha256, status, progress_done, progress_total, error, is_active,"
            " activate_when_ready, embedding_model, embeddings_computed, embeddings_reused, embedding_calls,"
            " chunk_count, term_total, changes, created_at, updated_at, attempts)"
            " VALUES (%s, 'v1', '', 'x.docx', 'x.docx', 1, '', 'ready', 0, 0, '', true, false, '', 0, 0, 0,"
            " 1, 3, '{}', now(), now(), 1) RETURNING id",
            [kit],
        )
        version = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO toolkit_chunks (document_id, ordinal, heading_path, heading, text, token_count,"
            " block_start, block_end, content_hash) VALUES (%s, 0, '{Budget}', 'Budget',"
            " 'The budgets are reviewed', 4, 0, 0, '')",
            [version],
        )
        cursor.execute("SELECT search_vector::text FROM toolkit_chunks")
        before = cursor.fetchone()[0]

    call_command("migrate", verbosity=0)  # every app: going back unapplied those depending on toolkit

    assert Toolkit.objects.get().language == "english"
    chunk = Chunk.objects.get()
    assert chunk.search_config == "english"
    with connection.cursor() as cursor:
        cursor.execute("SELECT search_vector::text FROM toolkit_chunks")
        assert cursor.fetchone()[0] == before == "'budget':1A,3B 'review':5B"
