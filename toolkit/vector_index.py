"""The HNSW index over chunk embeddings, built for the configured dimension.

The embedding column has no fixed dimension, so switching EMBEDDING_DIMENSIONS (a new model)
needs no schema migration: `manage.py reindex --all --embeddings-only` clears the old vectors,
re-embeds, and rebuilds this index on `embedding::vector(N)`. The index is partial, over
`vector_dims(embedding) = N`, so vectors of an old dimension (and dead row versions still
holding them) are never cast; queries must repeat that predicate and the cast to use it.
"""

from django.db import connection

INDEX_PREFIX = "toolkit_chunks_embedding_hnsw_"


def index_name(dimensions: int) -> str:
    return f"{INDEX_PREFIX}{int(dimensions)}"


def existing_index_dimensions(using=connection) -> list[int]:
    with using.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'toolkit_chunks' AND indexname LIKE %s",
            [INDEX_PREFIX + "%"],
        )
        return sorted(int(name.removeprefix(INDEX_PREFIX)) for (name,) in cursor.fetchall())


def ensure_index(dimensions: int, using=connection) -> bool:
    """Make the HNSW index match `dimensions`, dropping any for another one; True if it was built."""
    dimensions = int(dimensions)
    present = existing_index_dimensions(using)
    with using.cursor() as cursor:
        for other in present:
            if other != dimensions:
                cursor.execute(f"DROP INDEX IF EXISTS {index_name(other)}")
        if dimensions in present:
            return False
        if using.in_atomic_block:
            # Inside a transaction with deferred FK checks still queued, PostgreSQL refuses to
            # build an index on the table; run those checks now.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            f"CREATE INDEX IF NOT EXISTS {index_name(dimensions)} ON toolkit_chunks "
            f"USING hnsw ((embedding::vector({dimensions})) vector_cosine_ops) "
            f"WHERE vector_dims(embedding) = {dimensions}"
        )
    return True


def drop_indexes(using=connection) -> None:
    with using.cursor() as cursor:
        for dimensions in existing_index_dimensions(using):
            cursor.execute(f"DROP INDEX IF EXISTS {index_name(dimensions)}")
