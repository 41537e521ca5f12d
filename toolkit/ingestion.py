"""The ingestion pipeline, forward only: parse → chunk → embed → write (and build the keyword
index), then ready or failed.

`ingest` turns a stored version (toolkit.uploads) into chunks; `reembed` recomputes a ready
version's vectors. Chunks are written in one transaction, so a failed run never leaves a
half-indexed version. Who runs them, under which lock, and what happens to a run whose worker
died is toolkit.tasks' business; this module knows nothing of queues.
"""

import logging
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from toolkit import keyword_index
from toolkit.chunking import ChunkDraft, chunk_blocks, content_hash
from toolkit.docx_parser import parse_docx
from toolkit.docx_validation import DocxRejected, validate_docx
from toolkit.embeddings import EmbeddingError, EmbeddingStats, embed_with_cache, get_embedder
from toolkit.models import Chunk, Toolkit, ToolkitVersion
from toolkit.search import record_term_statistics

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


def _set_progress(document: ToolkitVersion, done: int, total: int) -> None:
    document.progress_done, document.progress_total = done, total
    # A plain UPDATE, committed at once, so the admin sees it while the run goes on.
    ToolkitVersion.objects.filter(pk=document.pk).update(
        progress_done=done, progress_total=total, heartbeat_at=timezone.now()
    )


def fail(document: ToolkitVersion, message: str, *, keep_previous: bool = False) -> ToolkitVersion:
    """Record a failed run. A new version is left with no chunks; a re-run of a ready version
    keeps its previous, working index (and stays ready) so a reindex cannot take it offline."""
    with transaction.atomic():
        if keep_previous:
            ToolkitVersion.objects.filter(pk=document.pk).update(
                status=ToolkitVersion.Status.READY,
                error=f"{message} The previous index was kept.",
                finished_at=timezone.now(),
            )
        else:
            document.chunks.all().delete()
            ToolkitVersion.objects.filter(pk=document.pk).update(
                status=ToolkitVersion.Status.FAILED,
                error=message,
                finished_at=timezone.now(),
                is_active=False,
            )
    document.refresh_from_db()
    logger.warning("ingestion of document %s failed: %s", document.pk, message)
    return document


def chunk_title(document: ToolkitVersion, first_heading: str) -> str:
    """What every chunk of the version is keyword-searchable by besides its own words: the
    toolkit's name, and the version's title when that says something else. A title that is only
    the document's first heading (parse_docx's fallback) is left out: it names one section, not
    the document, and would make every chunk match that section's words. Migration 0009 fills
    existing chunks by the same rule."""
    name, title = document.toolkit.name, document.title
    return f"{name}\n{title}" if title and title not in (name, first_heading) else name


def retitle_chunks(document: ToolkitVersion) -> None:
    """After the toolkit was renamed or the version's title edited: the chunks' title, and the
    term statistics that count its words. The keyword index's fingerprint includes the title, so
    the next search finds the index out of date, answers through SQL and queues its rebuild."""
    first = (
        document.chunks.exclude(heading_path=[]).order_by("ordinal").values_list("heading_path", flat=True)
    )
    title = chunk_title(document, next(iter(first[:1]), [""])[0])
    with transaction.atomic():
        if document.chunks.exclude(title=title).update(title=title):
            record_term_statistics(document)
            document.save(update_fields=["chunk_count", "term_total"])


def write_chunks(document: ToolkitVersion, drafts: list[ChunkDraft], vectors: list | None) -> None:
    """Replace the version's chunks (call inside a transaction) and record its term statistics."""
    # Read under a lock: a language changed meanwhile (apply_language) is waited for and seen.
    language = (
        Toolkit.objects.select_for_update().values_list("language", flat=True).get(pk=document.toolkit_id)
    )
    document.chunks.all().delete()
    first_heading = next((draft.heading_path[0] for draft in drafts if draft.heading_path), "")
    title = chunk_title(document, first_heading)
    Chunk.objects.bulk_create(
        [
            Chunk(
                document=document,
                ordinal=ordinal,
                heading_path=draft.heading_path,
                heading=draft.heading,
                text=draft.text,
                title=title,
                token_count=draft.token_count,
                block_start=draft.block_start,
                block_end=draft.block_end,
                content_hash=content_hash(draft.embedding_text()),
                embedding=vectors[ordinal] if vectors is not None else None,
                search_config=language,
            )
            for ordinal, draft in enumerate(drafts)
        ],
        batch_size=500,
    )
    record_term_statistics(document)


def apply_language(toolkit: Toolkit) -> None:
    """Index the toolkit's chunks for keyword search in its (new) language, and recompute every
    version's BM25 statistics; one UPDATE, no parsing or embedding. Call it inside the
    transaction that saved the toolkit: its row lock keeps ingestion runs from writing chunks
    with the old language meanwhile (write_chunks)."""
    Chunk.objects.filter(document__toolkit=toolkit).exclude(search_config=toolkit.language).update(
        search_config=toolkit.language
    )
    for version in toolkit.versions.all():
        record_term_statistics(version)
        version.save(update_fields=["chunk_count", "term_total"])


def _embed(
    document: ToolkitVersion, texts: list[str], on_progress: Progress
) -> tuple[list | None, EmbeddingStats]:
    embedder = get_embedder()
    if embedder is None:
        _set_progress(document, len(texts), len(texts))
        on_progress(len(texts), len(texts))
        return None, EmbeddingStats()

    def progress(done: int) -> None:
        _set_progress(document, done, len(texts))
        on_progress(done, len(texts))

    document.embedding_model = f"{embedder.model} ({embedder.dimensions}d)"
    vectors, stats = embed_with_cache(embedder, texts, progress)
    return vectors, stats


def _build_keyword_index(document: ToolkitVersion) -> None:
    # Before the version can be activated, so that it never answers without its index; inside the
    # transaction, which it can outlive (a rollback leaves an index of chunks that do not exist:
    # out of date, so the next search of the version queues a rebuild).
    try:
        with transaction.atomic():  # a savepoint: a failed build leaves the ingestion's transaction usable
            keyword_index.build(document.pk)
    except Exception:  # derived data: without it the version answers through the SQL path
        logger.exception("could not build the keyword index of version %s", document.pk)


def _start(document: ToolkitVersion) -> None:
    now = timezone.now()
    ToolkitVersion.objects.filter(pk=document.pk).update(
        attempts=models.F("attempts") + 1,
        status=ToolkitVersion.Status.PROCESSING,
        error="",
        progress_done=0,
        progress_total=0,
        started_at=now,
        heartbeat_at=now,
        finished_at=None,
    )
    document.refresh_from_db()


def ingest(document: ToolkitVersion, on_progress: Progress = lambda done, total: None) -> ToolkitVersion:
    """Parse, chunk, embed and index one stored version; mark it ready or failed."""
    keep_previous = document.status == ToolkitVersion.Status.READY and document.chunks.exists()
    _start(document)
    try:
        path = Path(document.source_file.path)
        validate_docx(path)
        parsed = parse_docx(path, fallback_title=Path(document.original_filename).stem)
        drafts = chunk_blocks(parsed.blocks, settings.CHUNK_TARGET_TOKENS, settings.CHUNK_OVERLAP_TOKENS)
        _set_progress(document, 0, len(drafts))
        texts = [draft.embedding_text() for draft in drafts]
        vectors, stats = _embed(document, texts, on_progress)
        changes = document.compare_with_active(drafts)
        with transaction.atomic():
            document.title = document.title or parsed.title  # before the chunks: they carry it
            write_chunks(document, drafts, vectors)
            document.status = ToolkitVersion.Status.READY
            document.changes = changes
            document.embeddings_computed = stats.computed
            document.embeddings_reused = stats.reused
            document.embedding_calls = stats.calls
            document.finished_at = timezone.now()
            document.save(
                update_fields=[
                    "status", "title", "changes", "embedding_model", "embeddings_computed",
                    "embeddings_reused", "embedding_calls", "chunk_count", "term_total", "finished_at",
                    "updated_at",
                ]
            )  # fmt: skip
            _build_keyword_index(document)
            has_active = document.toolkit.versions.filter(is_active=True).exclude(pk=document.pk).exists()
            # With golden questions, "activate when ready" waits for their run (rag.tasks), which
            # activates the version only if none newly fails.
            gated = has_active and document.toolkit.golden_questions.exists()
            if (document.activate_when_ready and not gated) or not has_active:
                document.activate()
    except DocxRejected as error:
        return fail(document, str(error), keep_previous=keep_previous)
    except EmbeddingError as error:
        return fail(document, f"Embedding failed: {error}", keep_previous=keep_previous)
    except FileNotFoundError:
        message = "The uploaded file is missing from storage (MEDIA_ROOT); upload it again."
        return fail(document, message, keep_previous=keep_previous)
    except Exception as error:  # the version must not stay in `processing`
        logger.exception("unexpected error while ingesting document %s", document.pk)
        message = f"Unexpected error ({type(error).__name__}); see the server log."
        return fail(document, message, keep_previous=keep_previous)
    document.refresh_from_db()
    return document


def reembed(document: ToolkitVersion, on_progress: Progress = lambda done, total: None) -> ToolkitVersion:
    """Recompute the embeddings of a ready version's chunks (new model or dimension), in place."""
    chunks = list(document.chunks.order_by("ordinal"))
    texts = [_embedding_text_of(chunk) for chunk in chunks]
    try:
        vectors, stats = _embed(document, texts, on_progress)
    except EmbeddingError as error:
        ToolkitVersion.objects.filter(pk=document.pk).update(error=f"Re-embedding failed: {error}")
        document.refresh_from_db()
        return document
    with transaction.atomic():
        for chunk, vector in zip(chunks, vectors or [None] * len(chunks), strict=True):
            chunk.embedding = vector
        Chunk.objects.bulk_update(chunks, ["embedding"], batch_size=500)
        ToolkitVersion.objects.filter(pk=document.pk).update(
            error="",
            embedding_model=document.embedding_model if vectors is not None else "",
            embeddings_computed=stats.computed,
            embeddings_reused=stats.reused,
            embedding_calls=stats.calls,
            finished_at=timezone.now(),
        )
    document.refresh_from_db()
    return document


def _embedding_text_of(chunk: Chunk) -> str:
    return ChunkDraft(chunk.heading_path, chunk.text, chunk.token_count, 0, 0).embedding_text()
