"""Hybrid retrieval: toolkit.search's keyword (BM25) and vector rankings, fused here.

The two rankings are fused with Reciprocal Rank Fusion (the vector side weighted by
RAG_VECTOR_WEIGHT); how each side ranks, and the SQL on the toolkit's tables, is toolkit.search's.
"""

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache

from toolkit import keyword_index, search
from toolkit.embeddings import EmbeddingError, content_hash, get_embedder

logger = logging.getLogger(__name__)

RRF_K = 30  # SciFact test: k=30 beat k=60 at every vector weight from 0.3 to 1.0 (docs/benchmarks.md)


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
    query: str = ""
    version_ids: list[int] | None = None  # None: the active versions
    # rag.relevance.assess's scores, once computed (typed loosely: rag.relevance builds on this module)
    assessment: Any = None
    unknown_term_weight: float | None = None  # for the gate, instead of RAG_UNKNOWN_TERM_WEIGHT


def embed_query(query: str) -> list[float] | None:
    """The question's vector (cached), or None when embeddings are off."""
    embedder = get_embedder()
    if embedder is None:
        return None
    key = f"query-embedding:{embedder.model}:{embedder.dimensions}:{content_hash(query)}"
    vector = cache.get(key)
    if vector is None:
        if hasattr(embedder, "embed_query"):  # e5: a question is embedded unlike a passage
            vector = embedder.embed_query(query)
        else:
            vector = embedder.embed_batch([query])[0]
        if len(vector) != embedder.dimensions:
            raise EmbeddingError(f"the model returned {len(vector)} dimensions, not {embedder.dimensions}")
        cache.set(key, vector, 60 * 60 * 24)
    return vector


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
    candidates = keyword_index.candidates(query, document_ids, at_least=pool)
    keyword = search.keyword_search(query, document_ids, pool, candidates)
    nearest = search.vector_search(vector, document_ids, pool) if vector is not None else []
    ranked_by: list[tuple[float, list]] = []
    if "keyword" in retrievers or vector is None:
        ranked_by.append((1.0, keyword))
    if vector is not None:
        ranked_by.append((settings.RAG_VECTOR_WEIGHT, nearest))
    fused: dict[int, float] = {}
    for weight, hits in ranked_by:
        for hit in hits:
            fused[hit.chunk_id] = fused.get(hit.chunk_id, 0.0) + weight / (RRF_K + hit.rank)
    best = sorted(fused, key=lambda chunk_id: (-fused[chunk_id], chunk_id))[:top_k]
    passages = search.passages(best)
    by_keyword = {hit.chunk_id: hit for hit in keyword}
    by_vector = {hit.chunk_id: hit for hit in nearest}
    chunks = []
    for chunk_id in best:
        passage, k, v = passages[chunk_id], by_keyword.get(chunk_id), by_vector.get(chunk_id)
        chunks.append(
            RetrievedChunk(
                chunk_id=chunk_id,
                document_id=passage.version_id,
                ordinal=passage.ordinal,
                toolkit=passage.toolkit,
                version_tag=passage.version_tag,
                heading=passage.heading,
                heading_path=passage.heading_path,
                text=passage.text,
                score=fused[chunk_id],
                keyword_rank=k.rank if k else None,
                keyword_score=k.score if k else None,
                vector_rank=v.rank if v else None,
                vector_similarity=v.similarity if v else None,
            )
        )
    mode = (
        "hybrid"
        if vector is not None and len(ranked_by) == 2
        else "vector"
        if vector is not None
        else "keyword"
    )
    return Retrieval(
        chunks=chunks,
        mode=mode,
        ms=round((time.perf_counter() - started) * 1000),
        notes=notes,
        query=query,
        version_ids=document_ids,
    )
