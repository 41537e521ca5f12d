"""Ingestion, start to end: upload → validate → parse → chunk → embed → index.

`create_document` checks and stores an upload (nothing is written when it is refused);
`ingest` turns a stored version into chunks; both are plain functions that the admin, the
`ingest`/`reindex` commands and the background task call. Chunks are written in one
transaction, so a failed run never leaves a half-indexed version.
"""

import contextlib
import errno
import hashlib
import logging
import re
import unicodedata
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.core.files import File
from django.db import connection, models, transaction
from django.utils import timezone

from toolkit.chunking import ChunkDraft, chunk_blocks
from toolkit.docx_parser import ParsedDocument, parse_docx
from toolkit.docx_validation import DocxRejected, validate_docx
from toolkit.embeddings import EmbeddingError, EmbeddingStats, content_hash, embed_with_cache, get_embedder
from toolkit.models import Chunk, Document, Toolkit

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


def check_upload(stream: BinaryIO, filename: str) -> ParsedDocument:
    """Validate and parse an upload without storing anything; raises DocxRejected."""
    if filename.lower().endswith(".docm"):
        raise DocxRejected("This is a macro-enabled document (.docm). Save it as a Word Document (.docx).")
    validate_docx(stream)
    stream.seek(0)
    return parse_docx(stream, fallback_title=Path(filename).stem)


def create_document(
    *,
    toolkit: Toolkit,
    version_tag: str,
    stream: BinaryIO,
    filename: str,
    title: str = "",
    uploaded_by=None,
    activate: bool = False,
    parsed: ParsedDocument | None = None,
) -> Document:
    """Store a checked upload as a pending version; the caller starts ingestion after commit."""
    if parsed is None:
        parsed = check_upload(stream, filename)
    stream.seek(0)
    digest = hashlib.sha256()
    size = 0
    for piece in iter(lambda: stream.read(1024 * 1024), b""):
        digest.update(piece)
        size += len(piece)
    stream.seek(0)
    document = Document(
        toolkit=toolkit,
        version_tag=version_tag,
        title=title or parsed.title,
        original_filename=display_filename(filename),
        file_size=size,
        sha256=digest.hexdigest(),
        uploaded_by=uploaded_by,
        activate_when_ready=activate,
    )
    store_upload(document, stream)
    try:
        document.save()
    except Exception:
        document.source_file.delete(save=False)  # no orphan file when the row cannot be written
        raise
    return document


class StorageFailed(RuntimeError):
    """The upload could not be written to MEDIA_ROOT; the message is fit for the admin."""


_STORAGE_PROBLEMS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EFBIG: "the file is larger than the system allows",
    errno.EACCES: "the upload folder is not writable",
    errno.EPERM: "the upload folder is not writable",
    errno.EROFS: "the upload folder is on a read-only file system",
    errno.ENOTDIR: "the upload folder's path is not a folder",
}


def store_upload(document: Document, stream: BinaryIO) -> None:
    """Write the upload under a generated name; on failure remove what was written and raise
    StorageFailed, so a full or read-only disk leaves neither a partial file nor a row."""
    field = document.source_file.field
    name = field.generate_filename(document, "upload.docx")
    try:
        document.source_file.name = field.storage.save(name, File(stream), max_length=field.max_length)
    except OSError as error:
        with contextlib.suppress(OSError):
            field.storage.delete(name)
        problem = _STORAGE_PROBLEMS.get(error.errno, error.strerror or type(error).__name__)
        logger.error("storing upload %s failed: %s", name, error)
        raise StorageFailed(
            f"The file could not be stored: {problem} (MEDIA_ROOT). Nothing was saved; "
            "ask the operator to check the server's storage, then upload again."
        ) from None


def display_filename(filename: str) -> str:
    """The uploader's file name, for display only (the file is stored under a generated name):
    no folders (either slash), no control or bidirectional-override characters, at most 255."""
    name = re.split(r"[/\\]", filename)[-1]
    name = "".join(c for c in name if unicodedata.category(c) not in ("Cc", "Cf"))
    return name.strip()[:255] or "upload.docx"


def _set_progress(document: Document, done: int, total: int) -> None:
    document.progress_done, document.progress_total = done, total
    # A plain UPDATE, committed at once, so the admin sees it while the run goes on.
    Document.objects.filter(pk=document.pk).update(
        progress_done=done, progress_total=total, heartbeat_at=timezone.now()
    )


def _fail(document: Document, message: str, *, keep_previous: bool = False) -> Document:
    """Record a failed run. A new version is left with no chunks; a re-run of a ready version
    keeps its previous, working index (and stays ready) so a reindex cannot take it offline."""
    with transaction.atomic():
        if keep_previous:
            Document.objects.filter(pk=document.pk).update(
                status=Document.Status.READY,
                error=f"{message} The previous index was kept.",
                finished_at=timezone.now(),
            )
        else:
            document.chunks.all().delete()
            Document.objects.filter(pk=document.pk).update(
                status=Document.Status.FAILED, error=message, finished_at=timezone.now(), is_active=False
            )
    document.refresh_from_db()
    logger.warning("ingestion of document %s failed: %s", document.pk, message)
    return document


def section_fingerprints(chunks: list[tuple[str, str]]) -> dict[str, str]:
    """Heading display → hash of that section's text, from (heading, text) pairs in order."""
    texts: dict[str, list[str]] = {}
    for heading, text in chunks:
        texts.setdefault(heading or "(start of document)", []).append(text)
    return {heading: content_hash("\n".join(parts)) for heading, parts in texts.items()}


def write_chunks(document: Document, drafts: list[ChunkDraft], vectors: list | None) -> None:
    """Replace the version's chunks (call inside a transaction) and record its term statistics."""
    document.chunks.all().delete()
    Chunk.objects.bulk_create(
        [
            Chunk(
                document=document,
                ordinal=ordinal,
                heading_path=draft.heading_path,
                heading=draft.heading,
                text=draft.text,
                token_count=draft.token_count,
                block_start=draft.block_start,
                block_end=draft.block_end,
                content_hash=content_hash(draft.embedding_text()),
                embedding=vectors[ordinal] if vectors is not None else None,
            )
            for ordinal, draft in enumerate(drafts)
        ],
        batch_size=500,
    )
    record_term_statistics(document)


TERM_STATISTICS_SQL = """
INSERT INTO toolkit_term_stats (document_id, term, chunk_count)
SELECT c.document_id, t.lexeme, count(*)
FROM toolkit_chunks c CROSS JOIN LATERAL unnest(c.search_vector) AS t
WHERE c.document_id = %s
GROUP BY c.document_id, t.lexeme
"""


def record_term_statistics(document: Document) -> None:
    """Store BM25's corpus statistics of the version: how many chunks and indexed terms it has,
    and in how many chunks each term occurs."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), coalesce(sum(length(search_vector)), 0) "
            "FROM toolkit_chunks WHERE document_id = %s",
            [document.pk],
        )
        document.chunk_count, document.term_total = cursor.fetchone()
        cursor.execute("DELETE FROM toolkit_term_stats WHERE document_id = %s", [document.pk])
        cursor.execute(TERM_STATISTICS_SQL, [document.pk])


def compare_with_active(document: Document, drafts: list[ChunkDraft]) -> dict:
    """Sections added, removed and changed against the toolkit's active version (if another)."""
    active = document.toolkit.documents.filter(is_active=True).exclude(pk=document.pk).first()
    if active is None:
        return {}
    old = section_fingerprints(list(active.chunks.order_by("ordinal").values_list("heading", "text")))
    new = section_fingerprints([(draft.heading, draft.text) for draft in drafts])
    return {
        "against": active.version_tag,
        "added": [heading for heading in new if heading not in old],
        "removed": [heading for heading in old if heading not in new],
        "changed": [heading for heading in new if heading in old and new[heading] != old[heading]],
        "unchanged": sum(1 for heading in new if old.get(heading) == new[heading]),
    }


def activate(document: Document) -> None:
    """Make this ready version the one that answers questions for its toolkit."""
    if document.status != Document.Status.READY:
        raise ValueError("Only a ready version can be made active.")
    with transaction.atomic():
        Document.objects.filter(toolkit=document.toolkit, is_active=True).exclude(pk=document.pk).update(
            is_active=False
        )
        newly = Document.objects.filter(pk=document.pk, is_active=False).update(
            is_active=True, activate_when_ready=False, activated_at=timezone.now()
        )
        if not newly:
            Document.objects.filter(pk=document.pk).update(activate_when_ready=False)
    document.is_active = True


def _embed(document: Document, texts: list[str], on_progress: Progress) -> tuple[list | None, EmbeddingStats]:
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


# Advisory-lock namespace: a worker holds (INGESTION_LOCK, version id) on its database session
# for the whole run. PostgreSQL drops the lock with the session, so a version that is
# `processing` while nobody holds its lock was abandoned by a worker that died (SIGKILL, OOM).
INGESTION_LOCK = 0x746B  # "tk"
AUTOMATIC_RETRIES = 1


def _try_lock(document_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [INGESTION_LOCK, document_id])
        return cursor.fetchone()[0]


def _unlock(document_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [INGESTION_LOCK, document_id])


def _start(document: Document) -> None:
    now = timezone.now()
    Document.objects.filter(pk=document.pk).update(
        attempts=models.F("attempts") + 1,
        status=Document.Status.PROCESSING,
        error="",
        progress_done=0,
        progress_total=0,
        started_at=now,
        heartbeat_at=now,
        finished_at=None,
    )
    document.refresh_from_db()


def ingest(document: Document, on_progress: Progress = lambda done, total: None) -> Document:
    """Parse, chunk, embed and index one stored version; mark it ready or failed."""
    if not _try_lock(document.pk):
        logger.info("document %s is being ingested by another worker; skipped", document.pk)
        document.refresh_from_db()
        return document
    try:
        return _ingest(document, on_progress)
    finally:
        _unlock(document.pk)


def _ingest(document: Document, on_progress: Progress) -> Document:
    keep_previous = document.status == Document.Status.READY and document.chunks.exists()
    _start(document)
    try:
        path = Path(document.source_file.path)
        validate_docx(path)
        parsed = parse_docx(path, fallback_title=Path(document.original_filename).stem)
        drafts = chunk_blocks(parsed.blocks, settings.CHUNK_TARGET_TOKENS, settings.CHUNK_OVERLAP_TOKENS)
        _set_progress(document, 0, len(drafts))
        texts = [draft.embedding_text() for draft in drafts]
        vectors, stats = _embed(document, texts, on_progress)
        changes = compare_with_active(document, drafts)
        with transaction.atomic():
            write_chunks(document, drafts, vectors)
            document.status = Document.Status.READY
            document.title = document.title or parsed.title
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
            has_active = document.toolkit.documents.filter(is_active=True).exclude(pk=document.pk).exists()
            if document.activate_when_ready or not has_active:
                activate(document)
    except DocxRejected as error:
        return _fail(document, str(error), keep_previous=keep_previous)
    except EmbeddingError as error:
        return _fail(document, f"Embedding failed: {error}", keep_previous=keep_previous)
    except FileNotFoundError:
        message = "The uploaded file is missing from storage (MEDIA_ROOT); upload it again."
        return _fail(document, message, keep_previous=keep_previous)
    except Exception as error:  # the version must not stay in `processing`
        logger.exception("unexpected error while ingesting document %s", document.pk)
        message = f"Unexpected error ({type(error).__name__}); see the server log."
        return _fail(document, message, keep_previous=keep_previous)
    document.refresh_from_db()
    return document


def reembed(document: Document, on_progress: Progress = lambda done, total: None) -> Document:
    """Recompute the embeddings of a ready version's chunks (new model or dimension), in place."""
    chunks = list(document.chunks.order_by("ordinal"))
    texts = [_embedding_text_of(chunk) for chunk in chunks]
    try:
        vectors, stats = _embed(document, texts, on_progress)
    except EmbeddingError as error:
        Document.objects.filter(pk=document.pk).update(error=f"Re-embedding failed: {error}")
        document.refresh_from_db()
        return document
    with transaction.atomic():
        for chunk, vector in zip(chunks, vectors or [None] * len(chunks), strict=True):
            chunk.embedding = vector
        Chunk.objects.bulk_update(chunks, ["embedding"], batch_size=500)
        Document.objects.filter(pk=document.pk).update(
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


def recover_abandoned_runs() -> tuple[int, int]:
    """Versions left `processing` by a worker that died are queued again (once) or failed with
    the reason; runs whose worker lives but made no progress for INGESTION_STALE_MINUTES are
    failed. Returns (requeued, failed). Safe to call from any process at any time."""
    from toolkit.tasks import enqueue_ingestion  # tasks imports this module

    requeued = failed = 0
    cutoff = timezone.now() - timedelta(minutes=settings.INGESTION_STALE_MINUTES)
    for document in Document.objects.filter(status=Document.Status.PROCESSING):
        if not _try_lock(document.pk):  # a live worker holds it
            if document.heartbeat_at and document.heartbeat_at < cutoff:
                _fail(
                    document,
                    f"The ingestion worker stopped making progress (nothing for "
                    f"{settings.INGESTION_STALE_MINUTES} minutes). Use 'Retry ingestion'.",
                )
                failed += 1
            continue
        # Nobody holds the lock: the worker that started this run is gone.
        retry = document.attempts <= AUTOMATIC_RETRIES
        try:
            if retry:
                Document.objects.filter(pk=document.pk).update(status=Document.Status.PENDING)
            else:
                _fail(
                    document,
                    f"The ingestion worker stopped (killed or crashed) during each of "
                    f"{document.attempts} runs; check the worker's log and memory, then use "
                    "'Retry ingestion'.",
                )
                failed += 1
        finally:
            _unlock(document.pk)
        if retry:
            logger.warning("ingestion of document %s was abandoned by its worker; queued again", document.pk)
            enqueue_ingestion(document, automatic=True)
            requeued += 1
    return requeued, failed
