"""Search over the indexed chunks of a set of versions: keyword (BM25) and vector rankings.

Keyword side: the question's stemmed terms are OR-ed (a natural question rarely has every
word in one passage), matching chunks are found through the GIN index, and scored with BM25
(term frequency from the tsvector; document frequencies and corpus sizes recorded per version
at ingestion by `record_term_statistics`, below, and summed over the versions searched) instead
of ts_rank, which has no notion of how rare a word is.
Vector side: cosine distance on the HNSW index for the configured dimension, with ef_search
set per query and iterative index scans so that the version filter does not starve results.
Hybrid search fuses the two in the same statement (HYBRID_SQL: a weighted sum of each side's
scores rescaled to 0..1 over its candidates). Every search is for a `Viewer` (toolkit.access): the
versions of toolkits it may not see are left out of the scope that every statement starts from.
This module is the only one outside migrations that names the toolkit's tables in SQL, besides
toolkit.access (the visibility condition) and the two that maintain an index
(toolkit.vector_index, toolkit.keyword_index).
"""

import math
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction

from toolkit import vector_index
from toolkit.access import VISIBLE_TOOLKIT, Viewer
from toolkit.models import ToolkitVersion

BM25_K1 = 1.2
BM25_B = 0.75
HEADING_BOOST = 2  # extra occurrences counted for a term that appears in the heading path
PRUNE_ABOVE_CHUNKS = 20_000  # from this many chunks on, candidates come from the rarer query terms
NEVER_PRUNE = 2**62  # PRUNE_ABOVE_CHUNKS when the keyword index already chose the candidates

# The versions searched: ready, active (or chosen), and of a toolkit the viewer may see
# (toolkit.access.VISIBLE_TOOLKIT, parameters from Viewer.sql_params). Every statement below
# starts from this scope, so the keyword side, the vector side and BM25's statistics never see an
# invisible version, and the HNSW index still serves the vector side (filtered by version ids).
SCOPE_ACTIVE = (  # constant strings joined, no input
    "SELECT d.id FROM toolkit_documents d JOIN toolkits t ON t.id = d.toolkit_id "  # noqa: S608
    "WHERE d.is_active AND d.status = 'ready' AND " + VISIBLE_TOOLKIT
)
SCOPE_CHOSEN = (  # constant strings joined, no input
    "SELECT d.id FROM toolkit_documents d JOIN toolkits t ON t.id = d.toolkit_id "  # noqa: S608
    "WHERE d.id = ANY(%(version_ids)s) AND d.status = 'ready' AND " + VISIBLE_TOOLKIT
)


@dataclass
class KeywordHit:
    chunk_id: int
    rank: int
    score: float


@dataclass
class KeywordCandidates:
    """The chunks the keyword side scores (from toolkit.keyword_index): the listed chunks, and
    every matching chunk of the versions listed as unindexed (their index is unusable)."""

    chunk_ids: list[int]
    unindexed_version_ids: list[int]


@dataclass
class VectorHit:
    chunk_id: int
    rank: int
    similarity: float


@dataclass
class FusedHit:
    chunk_id: int
    score: float  # HYBRID_SQL's fused score
    keyword: KeywordHit | None  # None: not among the keyword side's candidates
    vector: VectorHit | None


@dataclass
class Passage:
    chunk_id: int
    version_id: int
    ordinal: int
    toolkit: str
    version_tag: str
    heading: str
    heading_path: list[str]
    text: str
    language: str  # its toolkit's language: the text search configuration its lexemes come from


TERM_STATISTICS_SQL = """
INSERT INTO toolkit_term_stats (document_id, term, chunk_count)
SELECT c.document_id, t.lexeme, count(*)
FROM toolkit_chunks c CROSS JOIN LATERAL unnest(c.search_vector) AS t
WHERE c.document_id = %s
GROUP BY c.document_id, t.lexeme
"""


def record_term_statistics(version: ToolkitVersion) -> None:
    """Store BM25's corpus statistics of the version (call inside the transaction that wrote
    its chunks): how many chunks and indexed terms it has, and in how many chunks each term
    occurs. The caller saves `chunk_count` and `term_total` on the version."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), coalesce(sum(length(search_vector)), 0) "
            "FROM toolkit_chunks WHERE document_id = %s",
            [version.pk],
        )
        version.chunk_count, version.term_total = cursor.fetchone()
        cursor.execute("DELETE FROM toolkit_term_stats WHERE document_id = %s", [version.pk])
        cursor.execute(TERM_STATISTICS_SQL, [version.pk])


def active_version_ids(viewer: Viewer, toolkit_ids: list[int] | None = None) -> list[int]:
    """The versions a question is answered from now (recorded with it for analytics per version):
    the active, ready version of every toolkit the viewer sees, or of those of the toolkits given."""
    params = viewer.sql_params() | {"toolkit_ids": None if toolkit_ids is None else list(toolkit_ids)}
    with connection.cursor() as cursor:
        if toolkit_ids is None:
            cursor.execute(SCOPE_ACTIVE, params)
        else:
            cursor.execute(SCOPE_ACTIVE + " AND d.toolkit_id = ANY(%(toolkit_ids)s)", params)
        return [row[0] for row in cursor.fetchall()]


def scope_version_ids(viewer: Viewer, version_ids: list[int] | None) -> list[int]:
    """The versions a search over `version_ids` (None: the active ones) reads for this viewer."""
    with connection.cursor() as cursor:
        cursor.execute(_scope(version_ids) + " ORDER BY d.id", scope_params(viewer, version_ids))
        return [row[0] for row in cursor.fetchall()]


# The question's terms and their BM25 weights over the versions searched: shared by the keyword
# search and by `term_weights` (the relevance gate), so both weigh a word the same way.
# The question is read in the language of every toolkit searched (toolkits.language). In one
# language that is plain to_tsvector. With several, each word (by position) has one reading per
# language: a word any of them takes for a stop word is left out, and of its readings those found
# in the versions searched are kept, or one if none is (so that a word the toolkits never use
# still counts once, and an unstemmed English reading of a Russian word adds nothing).
TERMS_CTE = """
WITH scope AS ({scope}),
configs AS (
    SELECT DISTINCT t.language::regconfig AS config FROM toolkits t
    JOIN toolkit_documents d ON d.toolkit_id = t.id WHERE d.id IN (SELECT id FROM scope)
),
readings AS (
    SELECT c.config, v.lexeme, p.position, df.n AS df
    FROM configs c
    CROSS JOIN LATERAL unnest(to_tsvector(c.config, %(query)s)) v
    CROSS JOIN LATERAL unnest(v.positions) p(position)
    CROSS JOIN LATERAL (
        -- document frequencies recorded at ingestion (toolkit_term_stats), summed over the scope
        SELECT coalesce(sum(s.chunk_count), 0) AS n FROM toolkit_term_stats s
        WHERE s.term = v.lexeme AND s.document_id IN (SELECT id FROM scope)
    ) df
),
words AS (
    SELECT position, max(df) AS best FROM readings GROUP BY position
    HAVING count(DISTINCT config) = (SELECT count(*) FROM configs)
),
terms AS (
    SELECT DISTINCT r.lexeme AS term, r.df FROM readings r JOIN words w USING (position)
    WHERE r.df > 0 OR (w.best = 0 AND r.lexeme = (
        SELECT min(u.lexeme) FROM readings u WHERE u.position = r.position
    ))
),
stats AS (
    SELECT greatest(sum(chunk_count), 1)::float AS n,
           greatest(sum(term_total)::float / greatest(sum(chunk_count), 1), 1) AS avgdl
    FROM toolkit_documents WHERE id IN (SELECT id FROM scope)
),
idf AS (
    SELECT t.term, t.df, ln(1 + ((SELECT n FROM stats) - t.df + 0.5) / (t.df + 0.5)) AS w FROM terms t
)"""

# The keyword ranking as CTEs: `matches` finds the chunks holding a question term, `keyword`
# scores them with BM25 and keeps the best %(pool)s. Shared by the keyword-only and the hybrid
# statements, so a change to how chunks are matched lands in one place.
KEYWORD_CTES = (
    TERMS_CTE  # noqa: S608 - constant strings joined, no input
    + """,
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
      AND {chunks}
),
keyword AS (
    SELECT id, score, row_number() OVER (ORDER BY score DESC, id) AS rank FROM (
        SELECT m.id,
               sum(idf.w * lex.tf * %(k1)s::float / (lex.tf + %(k1)s::float * (1 - %(b)s::float
                   + %(b)s::float * length(m.search_vector) / (SELECT avgdl FROM stats)))) AS score
        FROM matches m
        CROSS JOIN LATERAL (
            -- a term in the heading (weight A) counts %(heading_boost)s times more than one in the
            -- text or the title (weights B and C)
            SELECT lexeme, coalesce(array_length(positions, 1), 1)
                   + %(heading_boost)s * cardinality(array_positions(weights, 'A')) AS tf
            FROM unnest(m.search_vector)
        ) lex
        JOIN idf ON idf.term = lex.lexeme
        GROUP BY m.id ORDER BY score DESC, m.id LIMIT %(pool)s
    ) scored
)"""
)

KEYWORD_SQL = KEYWORD_CTES + "\nSELECT id, rank, score FROM keyword ORDER BY rank"

# The vector side's nearest chunks, written so that the HNSW index of {dims} serves the ORDER BY:
# the same cast and the same vector_dims predicate as the partial index (toolkit/vector_index.py).
NEAREST_SELECT = """
SELECT id, similarity, row_number() OVER (ORDER BY similarity DESC, id) AS rank FROM (
    SELECT c.id, 1 - ((c.embedding::vector({dims})) <=> %(vector)s::vector({dims})) AS similarity
    FROM toolkit_chunks c
    WHERE c.document_id IN (SELECT id FROM scope) AND vector_dims(c.embedding) = {dims}
    ORDER BY (c.embedding::vector({dims})) <=> %(vector)s::vector({dims}) LIMIT %(pool)s
) nearest"""

VECTOR_SQL = "WITH scope AS ({scope})" + NEAREST_SELECT + "\nORDER BY rank"

# Hybrid: each side's scores are rescaled to 0..1 over its own pool (min-max; BM25 scores and cosine
# similarities are on unrelated scales, and rescaling keeps how far apart the candidates are, which
# reciprocal rank fusion threw away), then summed, the vector side weighted %(vector_weight)s and
# the keyword side 1 - %(vector_weight)s. A chunk missing from a side's pool gets 0 there: when the
# pool is full it scores at most the pool's last, which is the 0 of the scale; when the keyword pool
# is not full, every chunk outside it holds none of the question's terms, so the keyword scale runs
# from a BM25 score of 0, and a lone match (or a few equal ones) still counts fully.
HYBRID_SQL = (
    KEYWORD_CTES  # noqa: S608 - constant strings joined, no input
    + """,
vector AS ("""
    + NEAREST_SELECT
    + """
),
keyword_scale AS (
    SELECT CASE WHEN count(*) < %(pool)s THEN 0 ELSE min(score) END AS low, max(score) AS high FROM keyword
),
vector_scale AS (SELECT min(similarity) AS low, max(similarity) AS high FROM vector)
SELECT coalesce(k.id, v.id) AS id, k.rank, k.score, v.rank, v.similarity,
       (1 - %(vector_weight)s::float) * coalesce((k.score - ks.low) / nullif(ks.high - ks.low, 0), 0)
       + %(vector_weight)s::float
         * coalesce((v.similarity - vs.low) / nullif(vs.high - vs.low, 0), 0) AS fused
FROM keyword k FULL JOIN vector v ON v.id = k.id CROSS JOIN keyword_scale ks CROSS JOIN vector_scale vs
ORDER BY fused DESC, id LIMIT %(limit)s"""
)

TERM_WEIGHTS_SQL = TERMS_CTE + "\nSELECT term, df, w, (SELECT n FROM stats) FROM idf"  # noqa: S608

LEXEMES_SQL = """
SELECT array(SELECT lexeme FROM unnest(to_tsvector(c::regconfig, t)))
FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS texts(t, c, i) ORDER BY i"""

PASSAGES_SQL = """
SELECT c.id, c.document_id, c.ordinal, t.name, d.version_tag, c.heading, c.heading_path, c.text,
       t.language
FROM toolkit_chunks c
JOIN toolkit_documents d ON d.id = c.document_id
JOIN toolkits t ON t.id = d.toolkit_id
WHERE c.id = ANY(%s)"""


# The chunks the keyword side scores ({chunks} in KEYWORD_SQL's matches CTE): those holding one
# of the question's terms, found through the GIN index; or the keyword index's candidates, and
# those holding a term in the versions without a usable index. A format-time switch, not a
# parameter: the GIN condition must be gone from the plan when candidates are given (on 100k
# chunks it alone cost 8 ms, and its row estimate of 1 made PostgreSQL spill the scoring to disk).
HOLDING_A_TERM = (
    "c.search_vector @@ "
    "(SELECT to_tsquery('simple', string_agg(quote_literal(term), ' | ')) FROM match_terms)"
)
CANDIDATES = "c.id = ANY(%(candidates)s::bigint[])"
CANDIDATES_OR_UNINDEXED = (
    f"({CANDIDATES} OR c.document_id = ANY(%(unindexed)s::bigint[]) AND {HOLDING_A_TERM})"
)


def _scope(version_ids: list[int] | None) -> str:
    return SCOPE_CHOSEN if version_ids is not None else SCOPE_ACTIVE


def scope_params(viewer: Viewer, version_ids: list[int] | None) -> dict:
    """The scope's parameters: the versions chosen (None: the active ones) and who is searching."""
    return viewer.sql_params() | {"version_ids": None if version_ids is None else list(version_ids)}


def _keyword_params(
    query: str,
    viewer: Viewer,
    version_ids: list[int] | None,
    pool: int,
    candidates: KeywordCandidates | None = None,
    exhaustive: bool = False,
) -> dict:
    return scope_params(viewer, version_ids) | {
        "query": query,
        "k1": BM25_K1,
        "b": BM25_B,
        "heading_boost": HEADING_BOOST,
        "pool": pool,
        **candidate_params(candidates, exhaustive),
    }


def _widen_hnsw_search(cursor, pool: int) -> None:
    # Per query (inside a transaction): a wider HNSW search than the default 40 (wider still for
    # a large index), and iterative scans so that filtering to the versions searched still
    # yields `pool` neighbours.
    dims = int(settings.EMBEDDING_DIMENSIONS)
    ef_search = max(pool, vector_index.ef_search_for(vector_index.indexed_chunks(dims)))
    cursor.execute(f"SET LOCAL hnsw.ef_search = {ef_search}; SET LOCAL hnsw.iterative_scan = relaxed_order")


def keyword_search(
    query: str,
    version_ids: list[int] | None,
    limit: int,
    candidates: KeywordCandidates | None = None,
    *,
    viewer: Viewer,
    exhaustive: bool = False,
) -> list[KeywordHit]:
    """The `limit` best chunks by BM25 among the ready versions given (None: the active ones) that
    the viewer may see, scoring only the `candidates` if given. `exhaustive`: score every matching
    chunk, even in a large collection (the reference the benchmarks compare with)."""
    sql = KEYWORD_SQL.format(scope=_scope(version_ids), chunks=chunks_scored(candidates))
    with connection.cursor() as cursor:
        cursor.execute(sql, _keyword_params(query, viewer, version_ids, limit, candidates, exhaustive))
        rows = cursor.fetchall()
    return [KeywordHit(chunk_id=i, rank=rank, score=float(score)) for i, rank, score in rows]


def chunks_scored(candidates: KeywordCandidates | None) -> str:
    """KEYWORD_SQL's {chunks}: which chunks the keyword side scores."""
    if candidates is None:
        return HOLDING_A_TERM
    return CANDIDATES_OR_UNINDEXED if candidates.unindexed_version_ids else CANDIDATES


def candidate_params(candidates: KeywordCandidates | None, exhaustive: bool = False) -> dict:
    """KEYWORD_SQL's parameters for the chunks it may score."""
    # Chosen candidates need no pruning; versions without a usable index are searched as before.
    prune = not exhaustive and (candidates is None or bool(candidates.unindexed_version_ids))
    return {
        "prune_above": PRUNE_ABOVE_CHUNKS if prune else NEVER_PRUNE,
        "candidates": None if candidates is None else list(candidates.chunk_ids),
        "unindexed": [] if candidates is None else list(candidates.unindexed_version_ids),
    }


def vector_search(
    vector: list[float], version_ids: list[int] | None, limit: int, *, viewer: Viewer
) -> list[VectorHit]:
    """The `limit` nearest chunks by cosine similarity among the ready versions given (None: the
    active ones) that the viewer may see, on the HNSW index of EMBEDDING_DIMENSIONS; other
    dimensions are left out."""
    sql = VECTOR_SQL.format(scope=_scope(version_ids), dims=int(settings.EMBEDDING_DIMENSIONS))
    params = scope_params(viewer, version_ids) | {"vector": str(vector), "pool": limit}
    with transaction.atomic(), connection.cursor() as cursor:
        _widen_hnsw_search(cursor, limit)
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [VectorHit(chunk_id=i, rank=rank, similarity=float(similarity)) for i, similarity, rank in rows]


def hybrid_search(
    query: str,
    vector: list[float],
    version_ids: list[int] | None,
    limit: int,
    pool: int,
    vector_weight: float,
    candidates: KeywordCandidates | None = None,
    *,
    viewer: Viewer,
) -> list[FusedHit]:
    """The `limit` best chunks by the fused score of BM25 and cosine similarity (HYBRID_SQL), each
    side taking its best `pool` chunks of the versions the viewer may see; `vector_weight` is the
    vector side's share (0 to 1)."""
    sql = HYBRID_SQL.format(
        scope=_scope(version_ids), dims=int(settings.EMBEDDING_DIMENSIONS), chunks=chunks_scored(candidates)
    )
    params = _keyword_params(query, viewer, version_ids, pool, candidates) | {
        "vector": str(vector),
        "vector_weight": vector_weight,
        "limit": limit,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        _widen_hnsw_search(cursor, pool)
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [
        FusedHit(
            chunk_id=i,
            score=float(fused),
            keyword=KeywordHit(i, k_rank, float(k_score)) if k_rank is not None else None,
            vector=VectorHit(i, v_rank, float(similarity)) if v_rank is not None else None,
        )
        for i, k_rank, k_score, v_rank, similarity, fused in rows
    ]


@dataclass
class TermWeight:
    chunks: int  # in how many chunks of the versions searched the term occurs (0: never)
    idf: float  # BM25's inverse document frequency, as keyword_search weighs the term
    rarest_idf: float  # the idf of a term found in one chunk: an unknown term's weight is capped to it


def term_weights(query: str, version_ids: list[int] | None, *, viewer: Viewer) -> dict[str, TermWeight]:
    """The question's terms (PostgreSQL's lexemes in the searched toolkits' languages, stop words
    left out: TERMS_CTE) with their weights over the versions the viewer may see."""
    params = scope_params(viewer, version_ids) | {"query": query}
    with connection.cursor() as cursor:
        cursor.execute(TERM_WEIGHTS_SQL.format(scope=_scope(version_ids)), params)
        rows = cursor.fetchall()
    return {term: TermWeight(int(df), float(idf), math.log(1 + (n - 0.5) / 1.5)) for term, df, idf, n in rows}


def lexemes(texts: list[str], languages: list[str]) -> list[set[str]]:
    """Each text's terms as the keyword index sees them in its language (a text search
    configuration, e.g. Passage.language): stemmed lexemes, no stop words."""
    if not texts:
        return []
    with connection.cursor() as cursor:
        cursor.execute(LEXEMES_SQL, [list(texts), list(languages)])
        return [set(row[0]) for row in cursor.fetchall()]


def passages(chunk_ids: list[int]) -> dict[int, Passage]:
    """The chunks' text and where they come from (toolkit, version, heading), by chunk id."""
    with connection.cursor() as cursor:
        cursor.execute(PASSAGES_SQL, [list(chunk_ids)])
        rows = cursor.fetchall()
    return {
        row[0]: Passage(
            chunk_id=row[0],
            version_id=row[1],
            ordinal=row[2],
            toolkit=row[3],
            version_tag=row[4],
            heading=row[5],
            heading_path=list(row[6]),
            text=row[7],
            language=row[8],
        )
        for row in rows
    }
