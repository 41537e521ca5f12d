"""The keyword index: a tantivy index per toolkit version that picks the chunks worth scoring.

BM25 stays PostgreSQL's (toolkit.search's KEYWORD_SQL): this index only names, for a question,
each version's top KEYWORD_CANDIDATES chunks, and KEYWORD_SQL scores those instead of every
chunk sharing a word with the question (seconds on a million chunks: docs/benchmarks.md).

- Built from PostgreSQL's own lexemes (the generated `search_vector`): one document per chunk,
  each lexeme repeated as often as KEYWORD_SQL counts it (heading lexemes HEADING_BOOST times
  more), split on whitespace only, so tantivy neither stems nor lowercases anything. A question's
  terms come from PostgreSQL's to_tsvector too, in the version's language (its toolkit's), never
  from tantivy's analyzers.
- Derived data, PostgreSQL stays the record. Versions are immutable, so an index is written once
  (in a temporary folder renamed into place under KEYWORD_INDEX_DIR) and deleted with its version.
  A missing, corrupt or out-of-date index (format, settings, chunks rewritten or the toolkit's
  language changed since it was built) sends the question down the SQL path for that version,
  logs a warning once per process, shows on /ready, and queues a rebuild.
- Each process opens indexes read-only (memory-mapped, so workers share the pages through the
  page cache) and keeps one searcher per version, reopened when its folder was rebuilt.
"""

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import tantivy
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone
from django_tasks import task

from toolkit import search
from toolkit.access import Viewer
from toolkit.models import ToolkitVersion

logger = logging.getLogger(__name__)

FORMAT_VERSION = 2  # raise when the documents or the schema change: older indexes are rebuilt
METADATA = "toolkitrag-index.json"  # written last, before the rename: its presence means complete
REBUILD_EVERY_SECONDS = 600  # while a rebuild is pending, another is not queued for this long


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("chunk_id", fast=True)
    # Term frequencies without positions: nothing here matches phrases.
    builder.add_text_field("terms", tokenizer_name="whitespace", index_option="freq")
    return builder.build()


SCHEMA = _schema()

# Each chunk's lexemes, every one repeated as often as KEYWORD_SQL counts it (term frequency).
CHUNK_TERMS_SQL = """
SELECT c.id, (
    SELECT coalesce(string_agg(repeat(lexeme || ' ', (coalesce(array_length(positions, 1), 1)
               + %(heading_boost)s * cardinality(array_positions(weights, 'A')))::int), ''), '')
    FROM unnest(c.search_vector)
) FROM toolkit_chunks c WHERE c.document_id = %(version)s ORDER BY c.id"""

# What an index must have been built from, its fingerprint: the version's chunk count and first
# chunk's id (a re-ingested version gets new chunk ids), and what the chunks' lexemes are read
# from besides their own text, which changes in place: the title every chunk of the version
# carries (toolkit.ingestion.retitle_chunks) and its toolkit's language (apply_language).
FINGERPRINT_COLUMNS = "d.chunk_count, first.id, first.title, t.language"
FINGERPRINT_FROM = """
FROM toolkit_documents d
JOIN toolkits t ON t.id = d.toolkit_id
LEFT JOIN toolkit_chunks first ON first.document_id = d.id AND first.ordinal = 0"""

# Each version searched, its fingerprint, and the question's terms in its toolkit's language.
SCOPE_SQL = (  # noqa: S608 - constant strings joined, no input
    f"SELECT d.id, {FINGERPRINT_COLUMNS}, array(SELECT DISTINCT lexeme FROM "  # noqa: S608
    "unnest(to_tsvector(t.language::regconfig, %(query)s)) ORDER BY 1)"
    + FINGERPRINT_FROM
    + "\nWHERE d.id IN ({scope})"
)
FINGERPRINT_SQL = f"SELECT {FINGERPRINT_COLUMNS}" + FINGERPRINT_FROM + "\nWHERE d.id = %s"  # noqa: S608

Fingerprint = tuple[int, int | None, str | None, str | None]


def index_root() -> Path:
    return Path(settings.KEYWORD_INDEX_DIR)


def index_path(version_id: int) -> Path:
    return index_root() / str(int(version_id))


def settings_hash() -> str:
    """What the index's content depends on besides the chunks: another value means rebuild."""
    built_with = {"format": FORMAT_VERSION, "heading_boost": search.HEADING_BOOST}
    return hashlib.sha256(json.dumps(built_with, sort_keys=True).encode()).hexdigest()[:16]


def _fingerprint(version_id: int) -> Fingerprint:
    with connection.cursor() as cursor:
        cursor.execute(FINGERPRINT_SQL, [version_id])
        row = cursor.fetchone()
    return tuple(row) if row else (0, None, None, None)


@contextlib.contextmanager
def _build_lock(version_id: int) -> Iterator[None]:
    # One builder per version on this host (the task worker and `reindex` may both try).
    with open(index_root() / f".lock-{int(version_id)}", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def build(version_id: int) -> Path:
    """Write the version's index from its chunks' lexemes and rename it into place (replacing
    any older one); returns its folder. Also works inside the transaction that wrote the chunks."""
    root = index_root()
    root.mkdir(parents=True, exist_ok=True)
    with _build_lock(version_id):
        fingerprint = _fingerprint(version_id)
        for stale in root.glob(f".building-{int(version_id)}-*"):  # left by a builder that died
            shutil.rmtree(stale, ignore_errors=True)
        building = Path(tempfile.mkdtemp(prefix=f".building-{int(version_id)}-", dir=root))
        try:
            index = tantivy.Index(SCHEMA, path=str(building), reuse=False)
            writer = index.writer(num_threads=1)
            with connection.chunked_cursor() as cursor:
                params = {"version": version_id, "heading_boost": search.HEADING_BOOST}
                cursor.execute(CHUNK_TERMS_SQL, params)
                while rows := cursor.fetchmany(2000):
                    for chunk_id, terms in rows:
                        writer.add_document(tantivy.Document(chunk_id=chunk_id, terms=terms))
            writer.commit()
            writer.wait_merging_threads()
            metadata = {
                "format": FORMAT_VERSION,
                "settings": settings_hash(),
                "version": int(version_id),
                "chunks": fingerprint[0],
                "built_from": list(fingerprint),
                "built_at": timezone.now().isoformat(),
            }
            (building / METADATA).write_text(json.dumps(metadata) + "\n")
            _move_into_place(building, index_path(version_id))
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
    with contextlib.suppress(Exception):  # no cache reachable: nothing to clear
        cache.delete(_rebuild_key(version_id))  # should it break again, queue the next rebuild at once
    return index_path(version_id)


def _rebuild_key(version_id: int) -> str:
    return f"keyword-index-rebuild:{int(version_id)}"


def _move_into_place(built: Path, final: Path) -> None:
    try:
        os.rename(built, final)  # the usual case, a first build: atomic
        return
    except OSError:
        if not final.exists():
            raise
    # A rebuild: a folder cannot be renamed over a non-empty one. For the moment between the two
    # renames a reader finds no index and answers that question through SQL; readers that have
    # the old one open keep their memory maps until they notice the new folder.
    old = final.with_name(f".old-{final.name}-{uuid.uuid4().hex}")
    os.rename(final, old)
    os.rename(built, final)
    shutil.rmtree(old, ignore_errors=True)


def delete(version_id: int) -> None:
    shutil.rmtree(index_path(version_id), ignore_errors=True)
    (index_root() / f".lock-{int(version_id)}").unlink(missing_ok=True)


@receiver(post_delete, sender=ToolkitVersion)
def delete_with_version(sender, instance: ToolkitVersion, **kwargs) -> None:
    """Deleting a version (one, in bulk, or with its toolkit) removes its keyword index too."""
    delete(instance.pk)


@task()
def rebuild_index(version_id: int) -> str:
    """Rebuild a ready version's index unless it is usable (queued when a search found it not)."""
    if not ToolkitVersion.objects.filter(pk=version_id, status=ToolkitVersion.Status.READY).exists():
        return "not a ready version"
    if _check(version_id, _fingerprint(version_id))[0] is not None:
        return "already usable"
    build(version_id)
    return "built"


# --- Searching ----------------------------------------------------------------------------------


@dataclass
class _Opened:
    stamp: tuple[int, int, int]  # device, inode and mtime of the metadata file
    fingerprint: Fingerprint
    searcher: tantivy.Searcher


_opened: dict[int, _Opened] = {}  # version id -> its open searcher, in this process
_reported: set[tuple[int, str]] = set()  # (version, problem) already logged by this process


def _check(version_id: int, fingerprint: Fingerprint) -> tuple[tantivy.Searcher | None, str]:
    """The version's searcher (opened once per process), or None and what is wrong with the index."""
    folder = index_path(version_id)
    try:
        status = (folder / METADATA).stat()
    except OSError:
        _opened.pop(version_id, None)
        return None, "is missing"
    stamp = (status.st_dev, status.st_ino, status.st_mtime_ns)
    cached = _opened.get(version_id)
    if cached is not None and cached.stamp == stamp and cached.fingerprint == fingerprint:
        return cached.searcher, ""
    _opened.pop(version_id, None)  # rebuilt or out of date: its memory maps go with it
    try:
        metadata = json.loads((folder / METADATA).read_text())
        if metadata.get("format") != FORMAT_VERSION or metadata.get("settings") != settings_hash():
            return None, "is out of date (built by another release or with other settings)"
        if tuple(metadata["built_from"]) != tuple(fingerprint):
            return None, (
                "is out of date (the version's chunks were rewritten since it was built: "
                "re-ingested, retitled or re-indexed in another language)"
            )
        index = tantivy.Index.open(str(folder))
        index.config_reader(reload_policy="manual")  # immutable: no thread watching for commits
        searcher = index.searcher()
        if searcher.num_docs != metadata["chunks"]:
            return None, f"is corrupt ({searcher.num_docs} documents for {metadata['chunks']} chunks)"
    except BaseException as error:  # whatever is wrong with the files, the question is answered
        if not _damaged_files(error):
            raise
        return None, f"is corrupt ({type(error).__name__}: {error})"
    _forget_deleted()
    _opened[version_id] = _Opened(stamp, tuple(fingerprint), searcher)
    return searcher, ""


def _damaged_files(error: BaseException) -> bool:
    # tantivy reports some damaged files as a Rust panic, which Python sees as a BaseException.
    return isinstance(error, Exception) or type(error).__name__ == "PanicException"


def _forget_deleted() -> None:
    # A deleted version's files stay on disk while a process maps them: let go of them.
    for version_id in list(_opened):
        if not (index_path(version_id) / METADATA).exists():
            _opened.pop(version_id, None)


def _unusable(version_id: int, problem: str) -> None:
    """Warn once per process and queue a rebuild, unless one is pending (queued by any process)."""
    if (version_id, problem) not in _reported:
        _reported.add((version_id, problem))
        logger.warning(
            "keyword index of version %s %s: its keyword search uses the SQL path until it is rebuilt "
            "(queued)",
            version_id,
            problem,
        )
    try:
        first = cache.add(_rebuild_key(version_id), True, REBUILD_EVERY_SECONDS)
    except Exception:  # no shared cache: queue it anyway, the task skips a usable index
        first = True
    if first:
        try:
            rebuild_index.enqueue(version_id)
        except Exception:
            logger.exception("could not queue a rebuild of the keyword index of version %s", version_id)


def candidates(
    query: str, version_ids: list[int] | None, at_least: int = 0, *, viewer: Viewer
) -> search.KeywordCandidates | None:
    """The chunks KEYWORD_SQL should score for `query` in the ready versions given (None: the
    active ones) that the viewer may see (only their indexes are asked): each indexed version's
    top KEYWORD_CANDIDATES (or `at_least`, the ranking's length, if more) by the index, plus
    every chunk of the versions whose index is unusable. None: score every matching chunk (index
    turned off)."""
    if settings.KEYWORD_CANDIDATES <= 0:
        return None
    limit = max(settings.KEYWORD_CANDIDATES, at_least)
    scope = search.SCOPE_CHOSEN if version_ids is not None else search.SCOPE_ACTIVE
    with connection.cursor() as cursor:
        params = search.scope_params(viewer, version_ids) | {"query": query}
        cursor.execute(SCOPE_SQL.format(scope=scope), params)
        rows = cursor.fetchall()
    chunk_ids: list[int] = []
    unindexed: list[int] = []
    for version_id, *fingerprint, terms in rows:
        searcher, problem = _check(version_id, tuple(fingerprint))
        if searcher is not None and terms:
            try:
                chunk_ids += _top(searcher, terms, limit)
            except BaseException as error:
                if not _damaged_files(error):
                    raise
                _opened.pop(version_id, None)
                searcher, problem = None, f"is corrupt ({type(error).__name__}: {error})"
        if searcher is None:
            _unusable(version_id, problem)
            unindexed.append(version_id)
    return search.KeywordCandidates(chunk_ids=chunk_ids, unindexed_version_ids=unindexed)


def _top(searcher: tantivy.Searcher, terms: list[str], limit: int) -> list[int]:
    query = tantivy.Query.boolean_query(
        [(tantivy.Occur.Should, tantivy.Query.term_query(SCHEMA, "terms", term)) for term in terms]
    )
    hits = searcher.search(query, limit, count=False).hits
    return [int(chunk_id) for chunk_id in searcher.fast_field_values("chunk_id", [a for _, a in hits])]


def problems() -> list[str]:
    """What is wrong with the active versions' indexes (for /ready); a rebuild is queued for each."""
    if settings.KEYWORD_CANDIDATES <= 0:
        return []
    try:
        active = [
            (version, _fingerprint(version.pk))
            for version in ToolkitVersion.objects.filter(is_active=True, status=ToolkitVersion.Status.READY)
        ]
    except DatabaseError:  # /ready reports the database itself
        return []
    found = []
    for version, fingerprint in active:
        _, problem = _check(version.pk, fingerprint)
        if problem:
            _unusable(version.pk, problem)
            found.append(
                f"keyword index of {version} (version {version.pk}) {problem}: its keyword search "
                "is slower (SQL path) until the queued rebuild ends"
            )
    return found


def queue_rebuilds() -> int:
    """Queue a rebuild of every ready version's index (each skipped if usable) and delete the
    folders of versions that no longer exist, e.g. after a restore; returns how many were queued."""
    ready = ToolkitVersion.objects.filter(status=ToolkitVersion.Status.READY)
    ready = list(ready.values_list("pk", flat=True))
    remove_orphans()
    for version_id in ready:
        rebuild_index.enqueue(version_id)
    return len(ready)


def remove_orphans() -> int:
    """Delete the index folders of versions that no longer exist; returns how many."""
    root = index_root()
    if not root.is_dir():
        return 0
    existing = {str(pk) for pk in ToolkitVersion.objects.values_list("pk", flat=True)}
    orphans = [path for path in root.iterdir() if path.name.isdigit() and path.name not in existing]
    for path in orphans:
        delete(int(path.name))
    return len(orphans)
