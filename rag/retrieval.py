"""Hybrid retrieval: BM25 over PostgreSQL full-text search, pgvector nearest neighbours, fused.

Keyword side: the question's stemmed terms are OR-ed (a natural question rarely has every
word in one passage), matching chunks are found through the GIN index, and scored with BM25
(term frequency from the tsvector, document frequency counted per term, corpus statistics
stored per version) instead of ts_rank, which has no notion of how rare a word is.
Vector side: cosine distance on the HNSW index for the configured dimension, with ef_search
set per query and iterative index scans so that the version filter does not starve results.
The two rankings are fused with Reciprocal Rank Fusion (the vector side weighted by
RAG_VECTOR_WEIGHT), all in one SQL statement.
"""

import logging
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction

from toolkit.embeddings import EmbeddingError, content_hash, get_embedder

logger = logging.getLogger(__name__)

RRF_K = 30  # SciFact test: k=30 beat k=60 at every vector weight from 0.3 to 1.0 (docs/benchmarks.md)
BM25_K1 = 1.2
BM25_B = 0.75
HEADING_BOOST = 2  # extra occurrences counted for a term that appears in the heading path
PRUNE_ABOVE_CHUNKS = 20_000  # from this many chunks on, candidates come from the rarer query terms


@dataclass
class RetrievedChunk:
    chunk_id: int
    document_id: int
    ordinal: int
    toolkit: str
    version_tag: str
    heading: str
    heading_path: list[str]
    text: str
    score: float  # fused (RRF) score
    keyword_rank: int | None = None
    keyword_score: float | None = None
    keyword_coverage: float | None = None  # share of the question's term weight this chunk matches
    vector_rank: int | None = None
    vector_similarity: float | None = None

    @property
    def retrievers(self) -> list[str]:
        return [name for name, rank in (("keyword", self.keyword_rank), ("vector", self.vector_rank)) if rank]


@dataclass
class Retrieval:
    chunks: list[RetrievedChunk]
    mode: str  # "hybrid", "keyword" or "vector"
    ms: int
    notes: list[str] = field(default_factory=list)  # e.g. why vector search was skipped


SCOPE_ACTIVE = "SELECT id FROM toolkit_documents WHERE is_active AND status = 'ready'"
SCOPE_CHOSEN = "SELECT id FROM toolkit_documents WHERE id = ANY(%(document_ids)s) AND status = 'ready'"

KEYWORD_CTES = """
terms AS (SELECT DISTINCT lexeme AS term FROM unnest(to_tsvector('english', %(query)s))),
stats AS (
    SELECT greatest(sum(chunk_count), 1)::float AS n,
           greatest(sum(term_total)::float / greatest(sum(chunk_count), 1), 1) AS avgdl
    FROM toolkit_documents WHERE id IN (SELECT id FROM scope)
),
idf AS (
    SELECT t.term, df.n AS df, ln(1 + ((SELECT n FROM stats) - df.n + 0.5) / (df.n + 0.5)) AS w
    FROM terms t CROSS JOIN LATERAL (
        -- document frequencies recorded at ingestion (toolkit_term_stats), summed over the scope
        SELECT coalesce(sum(s.chunk_count), 0) AS n FROM toolkit_term_stats s
        WHERE s.term = t.term AND s.document_id IN (SELECT id FROM scope)
    ) df
),
match_terms AS (
    -- In a large collection, chunks are looked for by the question's rarer terms only (when it has
    -- any): a chunk holding nothing but words found in 5%% of all chunks seldom makes the top, and
    -- scoring every one of them would cost seconds. Small collections are scored exhaustively.
    SELECT term FROM idf
    WHERE (SELECT n FROM stats) < %(prune_above)s
       OR df <= (SELECT n FROM stats) * 0.05
       OR NOT EXISTS (SELECT 1 FROM idf WHERE df <= (SELECT n FROM stats) * 0.05)
),
matches AS (
    SELECT c.id, c.search_vector FROM toolkit_chunks c
    WHERE c.document_id IN (SELECT id FROM scope)
      AND c.search_vector @@ (
          SELECT to_tsquery('simple', string_agg(quote_literal(term), ' | ')) FROM match_terms
      )
),
keyword AS (
    SELECT id, score, matched, row_number() OVER (ORDER BY score DESC, id) AS rank FROM (
        SELECT m.id,
               sum(idf.w * lex.tf * %(k1)s::float / (lex.tf + %(k1)s::float * (1 - %(b)s::float
                   + %(b)s::float * length(m.search_vector) / (SELECT avgdl FROM stats)))) AS score,
               sum(idf.w) AS matched
        FROM matches m
        CROSS JOIN LATERAL (
            -- a term in the heading (weight A) counts %(heading_boost)s times more than one in the text
            SELECT lexeme, coalesce(array_length(positions, 1), 1)
                   + %(heading_boost)s * cardinality(array_positions(weights, 'A')) AS tf
            FROM unnest(m.search_vector)
        ) lex
        JOIN idf ON idf.term = lex.lexeme
        GROUP BY m.id ORDER BY score DESC, m.id LIMIT %(pool)s
    ) scored
)"""

VECTOR_CTE = """
vector AS (
    SELECT id, similarity, row_number() OVER (ORDER BY similarity DESC, id) AS rank FROM (
        SELECT c.id, 1 - ((c.embedding::vector({dims})) <=> %(vector)s::vector({dims})) AS similarity
        FROM toolkit_chunks c
        WHERE c.document_id IN (SELECT id FROM scope) AND vector_dims(c.embedding) = {dims}
        ORDER BY (c.embedding::vector({dims})) <=> %(vector)s::vector({dims}) LIMIT %(pool)s
    ) nearest
)"""

FINAL_SELECT = """
fused AS (
    SELECT id, sum(weight / ({rrf_k} + rank)) AS rrf FROM ({ranked}) r GROUP BY id
)
SELECT c.id, c.document_id, c.ordinal, t.name, d.version_tag, c.heading, c.heading_path, c.text, f.rrf,
       k.rank, k.score, k.matched / nullif((SELECT sum(w) FROM idf), 0), {vector_columns}
FROM fused f
JOIN toolkit_chunks c ON c.id = f.id
JOIN toolkit_documents d ON d.id = c.document_id
JOIN toolkits t ON t.id = d.toolkit_id
LEFT JOIN keyword k ON k.id = c.id
{vector_join}
ORDER BY f.rrf DESC, c.id
LIMIT %(top_k)s"""


def embed_query(query: str) -> list[float] | None:
    """The question's vector (cached), or None when embeddings are off."""
    embedder = get_embedder()
    if embedder is None:
        return None
    key = f"query-embedding:{embedder.model}:{embedder.dimensions}:{content_hash(query)}"
    vector = cache.get(key)
    if vector is None:
        vector = embedder.embed_batch([query])[0]
        if len(vector) != embedder.dimensions:
            raise EmbeddingError(f"the model returned {len(vector)} dimensions, not {embedder.dimensions}")
        cache.set(key, vector, 60 * 60 * 24)
    return vector


def active_version_ids() -> list[int]:
    """The versions a question is answered from now (recorded with it for analytics per version)."""
    with connection.cursor() as cursor:
        cursor.execute(SCOPE_ACTIVE)
        return [row[0] for row in cursor.fetchall()]


def retrieve(
    query: str,
    top_k: int = 5,
    document_ids: list[int] | None = None,
    retrievers: tuple[str, ...] = ("keyword", "vector"),
) -> Retrieval:
    """The best `top_k` chunks for `query` from active versions (or the versions given).

    `retrievers` narrows the fusion to one side (the benchmarks compare keyword, vector and hybrid).
    """
    started = time.perf_counter()
    notes: list[str] = []
    vector = None
    try:
        if "vector" in retrievers:
            vector = embed_query(query)
    except EmbeddingError as error:  # keyword search still answers
        notes.append(f"vector search skipped: {error}")
        logger.warning("vector search skipped: %s", error)
    pool = max(top_k * 4, 40)
    dims = int(settings.EMBEDDING_DIMENSIONS)
    ctes = [f"scope AS ({SCOPE_CHOSEN if document_ids is not None else SCOPE_ACTIVE})", KEYWORD_CTES]
    ranked_by = []
    if "keyword" in retrievers or vector is None:
        ranked_by.append("SELECT id, 1.0 AS weight, rank FROM keyword")
    vector_columns, vector_join = "NULL::bigint, NULL::float", ""
    if vector is not None:
        ctes.append(VECTOR_CTE.format(dims=dims))
        ranked_by.append("SELECT id, %(vector_weight)s AS weight, rank FROM vector")
        vector_columns, vector_join = "v.rank, v.similarity", "LEFT JOIN vector v ON v.id = c.id"
    sql = (
        "WITH "
        + ",".join(ctes)
        + ","
        + FINAL_SELECT.format(
            rrf_k=RRF_K,
            ranked=" UNION ALL ".join(ranked_by),
            vector_columns=vector_columns,
            vector_join=vector_join,
        )
    )
    params = {
        "query": query,
        "document_ids": document_ids,
        "k1": BM25_K1,
        "heading_boost": HEADING_BOOST,
        "prune_above": PRUNE_ABOVE_CHUNKS,
        "b": BM25_B,
        "pool": pool,
        "top_k": top_k,
        "vector_weight": settings.RAG_VECTOR_WEIGHT,
        "vector": str(vector) if vector is not None else None,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        if vector is not None:
            # Per query: a wider HNSW search than the default 40, and iterative scans so that
            # filtering to active versions still yields `pool` neighbours.
            ef_search = max(pool, settings.RAG_HNSW_EF_SEARCH)
            cursor.execute(
                f"SET LOCAL hnsw.ef_search = {ef_search}; SET LOCAL hnsw.iterative_scan = relaxed_order"
            )
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    chunks = [
        RetrievedChunk(
            chunk_id=row[0],
            document_id=row[1],
            ordinal=row[2],
            toolkit=row[3],
            version_tag=row[4],
            heading=row[5],
            heading_path=list(row[6]),
            text=row[7],
            score=float(row[8]),
            keyword_rank=row[9],
            keyword_score=_float(row[10]),
            keyword_coverage=_float(row[11]),
            vector_rank=row[12],
            vector_similarity=_float(row[13]),
        )  # fmt: skip
        for row in rows
    ]
    mode = (
        "hybrid"
        if vector is not None and len(ranked_by) == 2
        else "vector"
        if vector is not None
        else "keyword"
    )
    return Retrieval(chunks=chunks, mode=mode, ms=round((time.perf_counter() - started) * 1000), notes=notes)


def _float(value) -> float | None:
    return float(value) if value is not None else None
