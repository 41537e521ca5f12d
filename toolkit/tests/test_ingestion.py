import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from toolkit import ingestion, tasks, uploads
from toolkit.models import Chunk, EmbeddingCache, TermStatistic, Toolkit, ToolkitVersion
from toolkitrag.testing.docx_factory import make_docx, toolkit_spec

pytestmark = pytest.mark.django_db


def upload(
    data: bytes, version: str = "v1", toolkit: str = "Community Toolkit", activate=False
) -> ToolkitVersion:
    kit, _ = Toolkit.objects.get_or_create(name=toolkit)
    return uploads.create_version(
        toolkit=kit,
        version_tag=version,
        stream=io.BytesIO(data),
        filename=f"{version}.docx",
        activate=activate,
    )


def ingest(data: bytes, version: str = "v1", **kwargs) -> ToolkitVersion:
    return ingestion.ingest(upload(data, version, **kwargs))


def test_ingest_keyword_only_makes_chunks_with_heading_paths():
    document = ingest(make_docx(toolkit_spec(), title="Community Toolkit"))
    assert document.status == ToolkitVersion.Status.READY and document.is_active
    chunks = list(document.chunks.order_by("ordinal"))
    assert [c.heading for c in chunks] == [
        "1 Getting started", "2 Planning", "2 Planning > 2.3 Budget", "3 Evaluation",
    ]  # fmt: skip
    assert "1.1 Who this is for" in chunks[0].text  # a tiny subsection merged under its parent
    assert chunks[2].heading_path == ["2 Planning", "2.3 Budget"]
    assert "| Venue hire | £200 | Coordinator |" in chunks[2].text
    assert all(c.embedding is None for c in chunks)
    assert (document.progress_done, document.progress_total) == (4, 4)
    assert document.title == "Community Toolkit"


def test_term_document_frequencies_are_recorded_with_the_chunks():
    document = ingest(make_docx(toolkit_spec()))
    recorded = dict(TermStatistic.objects.filter(document=document).values_list("term", "chunk_count"))
    assert len(recorded) > 20
    for term in ("budget", "plan", "evalu"):  # stemmed, as the tsvectors hold them
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM toolkit_chunks WHERE document_id = %s "
                "AND search_vector @@ to_tsquery('simple', %s)",
                [document.pk, term],
            )
            assert recorded[term] == cursor.fetchone()[0] > 0
    document.delete()
    assert not TermStatistic.objects.exists()


def test_full_text_search_vector_is_maintained_by_the_database():
    document = ingest(make_docx(toolkit_spec()))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT heading FROM toolkit_chunks WHERE document_id = %s "
            "AND search_vector @@ websearch_to_tsquery('english', 'budgets reviewed quarterly')",
            [document.pk],
        )
        assert cursor.fetchall() == [("2 Planning > 2.3 Budget",)]


def test_ingest_with_openai_embeddings(fake_openai):
    document = ingest(make_docx(toolkit_spec()))
    assert document.status == ToolkitVersion.Status.READY, document.error
    chunks = list(document.chunks.order_by("ordinal"))
    assert all(len(c.embedding) == 384 for c in chunks)
    assert document.embeddings_computed == 4 and document.embedding_calls == 1
    sent = fake_openai.embedding_inputs()
    assert sent[2].startswith("2 Planning > 2.3 Budget\n\n")  # heading path is embedded with the text
    assert fake_openai.requests[0]["model"] == "test-embedding"


def test_reingesting_the_same_file_makes_no_embedding_calls(fake_openai):
    data = make_docx(toolkit_spec())
    ingest(data, "v1")
    calls = len(fake_openai.requests)
    again = ingest(data, "v2")
    assert again.status == ToolkitVersion.Status.READY
    assert len(fake_openai.requests) == calls
    assert (again.embeddings_computed, again.embeddings_reused, again.embedding_calls) == (0, 4, 0)
    assert again.chunks.exclude(embedding=None).count() == 4


def test_changing_one_section_embeds_only_that_section(fake_openai):
    ingest(make_docx(toolkit_spec()), "v1")
    before = len(fake_openai.embedding_inputs())
    changed = ingest(make_docx(toolkit_spec("The budget is now reviewed monthly by the treasurer.")), "v2")
    new_inputs = fake_openai.embedding_inputs()[before:]
    assert len(new_inputs) == 1 and "treasurer" in new_inputs[0]
    assert (changed.embeddings_computed, changed.embeddings_reused) == (1, 3)
    assert changed.changes == {
        "against": "v1", "added": [], "removed": [], "changed": ["2 Planning > 2.3 Budget"], "unchanged": 3,
    }  # fmt: skip


def test_embedding_failure_mid_document_leaves_no_chunks(fake_openai, settings):
    settings.EMBEDDING_BATCH_SIZE = 2  # two calls for four chunks; the second fails for good
    fake_openai.script = [{}, {"status": 500}, {"status": 500}, {"status": 500}]
    document = ingest(make_docx(toolkit_spec()))
    assert document.status == ToolkitVersion.Status.FAILED
    assert document.error == "Embedding failed: The embedding server answered HTTP 500."
    assert Chunk.objects.count() == 0
    assert not document.is_active
    assert EmbeddingCache.objects.count() == 2  # the first batch is kept: a retry will not pay twice

    # The server is back: a retry (the admin's "Retry ingestion") completes the version.
    calls_before = len(fake_openai.requests)
    document = ingestion.ingest(document)
    assert document.status == ToolkitVersion.Status.READY and document.error == ""
    assert Chunk.objects.filter(document=document).count() == 4
    assert len(fake_openai.requests) == calls_before + 1  # only the batch that failed
    assert (document.embeddings_computed, document.embeddings_reused) == (2, 2)


def test_rate_limited_requests_are_retried(fake_openai):
    fake_openai.script = [{"status": 429}, {"status": 429}]
    document = ingest(make_docx(toolkit_spec()))
    assert document.status == ToolkitVersion.Status.READY
    assert len(fake_openai.requests) == 3


def test_a_timeout_fails_the_version_with_a_clear_message(fake_openai, settings):
    settings.EMBEDDING_TIMEOUT = 0.3
    settings.EMBEDDING_MAX_RETRIES = 1
    fake_openai.script = [{"delay": 1}, {"delay": 1}]
    document = ingest(make_docx(toolkit_spec()))
    assert document.status == ToolkitVersion.Status.FAILED
    assert "did not answer within 0.3 s (tried 2 times)" in document.error
    assert len(fake_openai.requests) == 2


def test_wrong_dimension_from_the_server_is_reported(fake_openai, settings):
    fake_openai.dimensions = 8
    settings.EMBEDDING_MODEL = "local-model"  # not text-embedding-3: no `dimensions` is sent
    document = ingest(make_docx(toolkit_spec()))
    assert document.status == ToolkitVersion.Status.FAILED
    assert "returned 8-dimensional vectors but EMBEDDING_DIMENSIONS is 384" in document.error


def test_a_new_version_keeps_the_old_one_and_activation_switches(fake_openai):
    v1 = ingest(make_docx(toolkit_spec()), "v1")
    v2 = ingest(make_docx(toolkit_spec("New budget rules.")), "v2")
    v1.refresh_from_db()
    assert v1.is_active and not v2.is_active  # the first version stays active until switched
    assert v1.chunks.count() == 4
    v2.activate()
    v1.refresh_from_db()
    assert not v1.is_active and ToolkitVersion.objects.get(pk=v2.pk).is_active
    v3 = ingest(make_docx(toolkit_spec("Even newer.")), "v3", activate=True)
    assert v3.is_active and ToolkitVersion.objects.filter(is_active=True).count() == 1


def test_only_ready_versions_can_be_activated():
    document = upload(make_docx(toolkit_spec()))
    with pytest.raises(ValueError, match="ready"):
        document.activate()


def test_changes_list_added_and_removed_sections():
    ingest(make_docx(toolkit_spec()), "v1")
    spec = [item for item in toolkit_spec() if item != ("h1", "3 Evaluation")][:-1] + [
        ("h1", "4 Safeguarding"),
        ("p", "Keep people safe."),
    ]
    v2 = ingest(make_docx(spec), "v2")
    assert v2.changes["added"] == ["4 Safeguarding"]
    assert v2.changes["removed"] == ["3 Evaluation"]


def test_deleting_a_version_deletes_its_chunks_and_file():
    document = ingest(make_docx(toolkit_spec()))
    path = Path(document.source_file.path)
    assert path.exists() and path.name != "v1.docx"  # stored under a generated name
    document.delete()
    assert not path.exists()
    assert Chunk.objects.count() == 0


def test_a_run_whose_worker_died_is_queued_again_once_then_failed(django_capture_on_commit_callbacks):
    document = upload(make_docx(toolkit_spec()))
    # Left `processing` with nobody holding its lock, after one run: retried (at once, here).
    ToolkitVersion.objects.filter(pk=document.pk).update(status=ToolkitVersion.Status.PROCESSING, attempts=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.recover_abandoned_runs() == (1, 0)
    document.refresh_from_db()
    assert document.status == ToolkitVersion.Status.READY and document.chunks.count() == 4
    # Its worker died during the automatic retry too: failed, with the reason.
    ToolkitVersion.objects.filter(pk=document.pk).update(status=ToolkitVersion.Status.PROCESSING, attempts=2)
    assert tasks.recover_abandoned_runs() == (0, 1)
    document.refresh_from_db()
    assert document.status == ToolkitVersion.Status.FAILED and document.chunks.count() == 0
    assert "killed or crashed) during each of 2 runs" in document.error


def test_a_live_worker_keeps_its_run_until_it_stops_making_progress(settings):
    """Another session holds the version's lock: a live worker. Only a stale heartbeat fails it."""
    import psycopg

    from toolkitrag.testing.servers import child_database_url

    document = upload(make_docx(toolkit_spec()))
    ToolkitVersion.objects.filter(pk=document.pk).update(
        status=ToolkitVersion.Status.PROCESSING, heartbeat_at=timezone.now(), attempts=1
    )
    with psycopg.connect(child_database_url(), autocommit=True) as worker:
        worker.execute("SELECT pg_advisory_lock(%s, %s)", [tasks.INGESTION_LOCK, document.pk])
        assert tasks.recover_abandoned_runs() == (0, 0)
        assert ToolkitVersion.objects.get(pk=document.pk).status == ToolkitVersion.Status.PROCESSING
        ToolkitVersion.objects.filter(pk=document.pk).update(
            heartbeat_at=timezone.now() - timedelta(minutes=60)
        )
        assert tasks.recover_abandoned_runs() == (0, 1)
    document.refresh_from_db()
    assert document.status == ToolkitVersion.Status.FAILED and "stopped making progress" in document.error


def test_a_failed_reindex_keeps_the_working_index(fake_openai):
    document = ingest(make_docx(toolkit_spec()))
    document.source_file.storage.delete(document.source_file.name)
    document = ingestion.ingest(document)
    assert document.status == ToolkitVersion.Status.READY and document.is_active
    assert document.chunks.count() == 4
    assert "missing from storage" in document.error and "previous index was kept" in document.error


def test_hnsw_index_exists_for_the_configured_dimension():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'toolkit_chunks_embedding_hnsw_384'"
        )
        (definition,) = cursor.fetchone()
    assert "hnsw" in definition and "vector(384)" in definition and "vector_cosine_ops" in definition


# --- management commands ---------------------------------------------------------------


def test_ingest_command_prints_progress_and_a_summary(tmp_path, capsys):
    path = tmp_path / "toolkit.docx"
    make_docx(toolkit_spec(), path)
    call_command(
        "ingest", str(path), "--toolkit", "Community Toolkit", "--version-tag", "2024.1", "--activate"
    )
    out = capsys.readouterr().out
    assert "indexed 4/4 chunks" in out
    summary = "Community Toolkit 2024.1: ready, 4 chunks, 0 embedded, 0 reused from cache, 0 embedding calls"
    assert out.strip().endswith(summary + ", active.")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a word file", "not a Word .docx file"),
        (b"", "empty"),
        (make_docx([("p", "")]), "no text to index"),
    ],
)
def test_ingest_command_rejects_bad_input_and_writes_nothing(tmp_path, media_root, content, message):
    path = tmp_path / "bad.docx"
    path.write_bytes(content)
    with pytest.raises(CommandError, match=message):
        call_command("ingest", str(path), "--toolkit", "T", "--version-tag", "v1")
    assert not Toolkit.objects.exists() and not ToolkitVersion.objects.exists()
    assert not media_root.exists() or not any(media_root.rglob("*.docx"))


def test_ingest_command_refuses_a_duplicate_version_and_is_safe_to_rerun(tmp_path):
    path = tmp_path / "toolkit.docx"
    make_docx(toolkit_spec(), path)
    call_command("ingest", str(path), "--toolkit", "T", "--version-tag", "v1")
    with pytest.raises(CommandError, match="already has a version 'v1'"):
        call_command("ingest", str(path), "--toolkit", "T", "--version-tag", "v1")
    call_command("ingest", str(path), "--toolkit", "T", "--version-tag", "v1", "--if-missing")
    assert ToolkitVersion.objects.count() == 1


def test_reindex_embeddings_only_after_a_model_change(fake_openai, settings, capsys):
    document = ingest(make_docx(toolkit_spec()))
    settings.EMBEDDING_MODEL = "another-model"
    call_command("reindex", "--all", "--embeddings-only")
    document.refresh_from_db()
    assert document.embeddings_computed == 4 and document.embedding_model == "another-model (384d)"
    assert capsys.readouterr().out.strip().endswith("Reindexed 1 of 1 version(s).")


def test_reindex_rebuilds_the_vector_index_for_a_new_dimension(fake_openai, settings):
    document = ingest(make_docx(toolkit_spec()))
    settings.EMBEDDING_DIMENSIONS = 64
    fake_openai.dimensions = 64
    call_command("reindex", "--all", "--embeddings-only")
    assert all(len(c.embedding) == 64 for c in document.chunks.all())
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE indexname LIKE 'toolkit_chunks_embedding_hnsw_%'"
        )
        assert cursor.fetchall() == [("toolkit_chunks_embedding_hnsw_64",)]


def test_reindex_reparses_a_version(capsys):
    document = ingest(make_docx(toolkit_spec()))
    Chunk.objects.filter(document=document).delete()
    call_command("reindex", "--version", str(document.pk))
    assert document.chunks.count() == 4


def test_reindex_unknown_version_is_a_clear_error():
    with pytest.raises(CommandError, match="No toolkit version with id 999"):
        call_command("reindex", "--version", "999")


def test_reindex_takes_one_version_or_all_and_its_version_flag_is_not_djangos():
    with pytest.raises(CommandError, match="not allowed with"):
        call_command("reindex", "--version", "1", "--all")
    with pytest.raises(
        CommandError, match="one of the arguments --version --all --vector-index-only is required"
    ):
        call_command("reindex")


def test_the_demo_toolkit_that_make_run_uses_ingests(capsys):
    demo = Path(__file__).resolve().parents[2] / "demo" / "community-resilience-toolkit.docx"
    call_command(
        "ingest", str(demo), "--toolkit", "Community Resilience Toolkit", "--version-tag", "2026.1",
        "--activate", "--if-missing",
    )  # fmt: skip
    document = ToolkitVersion.objects.get()
    assert document.title == "Community Resilience Toolkit" and document.is_active
    headings = set(document.chunks.values_list("heading", flat=True))
    assert "4 Writing the emergency plan > 4.3 Budget" in headings
    call_command(
        "ingest",
        str(demo),
        "--toolkit",
        "Community Resilience Toolkit",
        "--version-tag",
        "2026.1",
        "--if-missing",
    )
    assert "already exists (ready); nothing to do." in capsys.readouterr().out
