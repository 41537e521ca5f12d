"""The HNSW index over chunk embeddings, built for the configured dimension.

The embedding column has no fixed dimension, so switching EMBEDDING_DIMENSIONS (a new model)
needs no schema migration: `manage.py reindex --all --embeddings-only` clears the old vectors,
re-embeds, and rebuilds this index on `embedding::vector(N)`. The index is partial, over
`vector_dims(embedding) = N`, so vectors of an old dimension (and dead row versions still
holding them) are never cast; queries must repeat that predicate and the cast to use it.

The graph's build parameters (RAG_HNSW_M, RAG_HNSW_EF_CONSTRUCTION) are stored by PostgreSQL
with the index (pg_class.reloptions); `ensure_index` rebuilds an index whose parameters differ
from the settings, so changing them takes effect at the next `manage.py reindex`.
"""

from django.conf import settings
from django.db import connection

INDEX_PREFIX = "toolkit_chunks_embedding_hnsw_"
# pgvector's own defaults: what an index built without WITH (...) has.
PGVECTOR_DEFAULTS = {"m": 16, "ef_construction": 64}


def index_name(dimensions: int) -> str:
    return f"{INDEX_PREFIX}{int(dimensions)}"


def configured_parameters() -> dict[str, int]:
    return {"m": int(settings.RAG_HNSW_M), "ef_construction": int(settings.RAG_HNSW_EF_CONSTRUCTION)}


def ef_search_for(chunk_count: int) -> int:
    """HNSW candidates per query for an index over `chunk_count` chunks: recall at a fixed
    ef_search falls as the graph grows, so large collections search wider (docs/benchmarks.md)."""
    if chunk_count >= settings.RAG_HNSW_LARGE_CHUNKS:
        return int(settings.RAG_HNSW_EF_SEARCH_LARGE)
    return int(settings.RAG_HNSW_EF_SEARCH)


def indexed_chunks(dimensions: int, using=connection) -> int:
    """About how many chunks the index holds: PostgreSQL's estimate, kept by (auto)vacuum and
    index builds, so reading it costs a catalog lookup rather than a count over the table."""
    with using.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [index_name(dimensions)])
        row = cursor.fetchone()
    return max(int(row[0]), 0) if row else 0  # -1: never vacuumed or analysed yet


def existing_index_dimensions(using=connection) -> list[int]:
    with using.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'toolkit_chunks' AND indexname LIKE %s",
            [INDEX_PREFIX + "%"],
        )
        return sorted(int(name.removeprefix(INDEX_PREFIX)) for (name,) in cursor.fetchall())


def index_parameters(dimensions: int, using=connection) -> dict[str, int] | None:
    """The build parameters of the index for `dimensions` as PostgreSQL recorded them (None: no index)."""
    with using.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = %s", [index_name(dimensions)])
        row = cursor.fetchone()
    if row is None:
        return None
    recorded = dict(option.split("=", 1) for option in row[0] or [])
    return {name: int(recorded.get(name, default)) for name, default in PGVECTOR_DEFAULTS.items()}


def ensure_index(dimensions: int, using=connection) -> bool:
    """Make the HNSW index match `dimensions` and the configured build parameters, dropping any
    for another dimension; True if it was built."""
    dimensions = int(dimensions)
    wanted = configured_parameters()
    present = existing_index_dimensions(using)
    with using.cursor() as cursor:
        for other in present:
            if other != dimensions:
                cursor.execute(f"DROP INDEX IF EXISTS {index_name(other)}")
        if dimensions in present:
            if index_parameters(dimensions, using) == wanted:
                return False
            cursor.execute(f"DROP INDEX IF EXISTS {index_name(dimensions)}")
        if using.in_atomic_block:
            # Inside a transaction with deferred FK checks still queued, PostgreSQL refuses to
            # build an index on the table; run those checks now.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        # pgvector builds the graph much faster when it fits in this memory (it warns when not);
        # the memory is taken as the graph grows, so a small collection takes little of it.
        cursor.execute(
            "SELECT set_config('maintenance_work_mem', %s, false)", [settings.RAG_HNSW_BUILD_MEMORY]
        )
        try:
            cursor.execute(
                f"CREATE INDEX IF NOT EXISTS {index_name(dimensions)} ON toolkit_chunks "
                f"USING hnsw ((embedding::vector({dimensions})) vector_cosine_ops) "
                f"WITH (m = {wanted['m']}, ef_construction = {wanted['ef_construction']}) "
                f"WHERE vector_dims(embedding) = {dimensions}"
            )
        finally:
            cursor.execute("RESET maintenance_work_mem")  # the connection goes back to a pool
    return True


def drop_indexes(using=connection) -> None:
    with using.cursor() as cursor:
        for dimensions in existing_index_dimensions(using):
            cursor.execute(f"DROP INDEX IF EXISTS {index_name(dimensions)}")
