"""The one error every embedding backend raises (its own module: toolkit.onnx_model raises it
and toolkit.embeddings imports that module)."""


class EmbeddingError(RuntimeError):
    """Embedding failed after retries; the message is fit to show an administrator."""
