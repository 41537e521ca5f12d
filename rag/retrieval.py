"""Retrieval: the question's embedding, then toolkit.search's hybrid search (BM25 and vector
scores fused in one statement, the vector side weighted RAG_VECTOR_WEIGHT), or one side alone
when there are no embeddings (or a benchmark asks for one). How each side ranks and fuses, and the
SQL on the toolkit's tables, is toolkit.search's.
"""

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache

from toolkit import keyword_index, search
from toolkit.access import NOBODY, Viewer
from toolkit.embeddings import EmbeddingError, content_hash, get_embedder

logger = logging.getLogger(__name__)

# Each side's candidates in hybrid search, whatever top_k: the fused order is computed over these
# (each side's scores are normalised over its own), so a question's top 5 are the top 5 of its
# top 100 and benchmarks that ask for 100 measure the order the chat gets.
FUSION_POOL = 100


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
    score: float  # hybrid: the fused score; one side alone: its BM25 score or cosine similarity
    keyword_rank: int | None = None
    keyword_score: float | None = None
    vector_rank: int | None = None
    vector_similarity: float | None = None
    language: str = "english"  # its toolkit's: the text search configuration to read its text in

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
    viewer: Viewer = NOBODY  # whose retrieval: the gate's term weights are over what they may see


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
    *,
    viewer: Viewer,
) -> Retrieval:
    """The best `top_k` chunks for `query` from active versions (or the versions given) of the
    toolkits `viewer` may see (toolkit.access: the restriction is inside each search statement).

    `retrievers` narrows retrieval to one side (the benchmarks compare keyword, vector and hybrid).
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
    hits: list[search.FusedHit]
    if vector is not None and "keyword" in retrievers:
        mode = "hybrid"
        pool = max(top_k, FUSION_POOL)
        candidates = keyword_index.candidates(query, document_ids, at_least=pool, viewer=viewer)
        hits = search.hybrid_search(
            query, vector, document_ids, top_k, pool, settings.RAG_VECTOR_WEIGHT, candidates, viewer=viewer
        )
    elif vector is not None:
        mode = "vector"
        nearest = search.vector_search(vector, document_ids, top_k, viewer=viewer)
        hits = [search.FusedHit(hit.chunk_id, hit.similarity, None, hit) for hit in nearest]
    else:
        mode = "keyword"
        candidates = keyword_index.candidates(query, document_ids, at_least=top_k, viewer=viewer)
        keyword = search.keyword_search(query, document_ids, top_k, candidates, viewer=viewer)
        hits = [search.FusedHit(hit.chunk_id, hit.score, hit, None) for hit in keyword]
    passages = search.passages([hit.chunk_id for hit in hits])
    chunks = []
    for hit in hits:
        passage, k, v = passages[hit.chunk_id], hit.keyword, hit.vector
        chunks.append(
            RetrievedChunk(
                chunk_id=hit.chunk_id,
                document_id=passage.version_id,
                ordinal=passage.ordinal,
                toolkit=passage.toolkit,
                version_tag=passage.version_tag,
                heading=passage.heading,
                heading_path=passage.heading_path,
                text=passage.text,
                language=passage.language,
                score=hit.score,
                keyword_rank=k.rank if k else None,
                keyword_score=k.score if k else None,
                vector_rank=v.rank if v else None,
                vector_similarity=v.similarity if v else None,
            )
        )
    return Retrieval(
        chunks=chunks,
        mode=mode,
        ms=round((time.perf_counter() - started) * 1000),
        notes=notes,
        query=query,
        version_ids=document_ids,
        viewer=viewer,
    )
