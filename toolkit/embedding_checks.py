"""What /ready warns about embeddings: a local model that cannot load, and active toolkit versions
whose vectors come from another model than the one questions are embedded with."""

from django.conf import settings
from django.db import DatabaseError, connection

from toolkit.embedding_errors import EmbeddingError


def embedding_warnings() -> list[str]:
    """Each line says what is degraded and what to do; empty when embeddings are off or fine."""
    if settings.EMBEDDING_BACKEND == "none":
        return []
    warnings = []
    if settings.EMBEDDING_BACKEND == "local":
        from toolkit.embeddings import get_embedder

        try:
            get_embedder().load()  # checked and loaded once per process, then kept
        except EmbeddingError as error:
            warnings.append(f"local embedding model unavailable, search is keyword-only: {error}")
    stale = stale_versions()
    if stale:
        warnings.append(
            f"{stale} active toolkit version(s) have no vectors from {settings.EMBEDDING_MODEL} "
            f"({settings.EMBEDDING_DIMENSIONS}d), the model questions are embedded with: "
            "run `manage.py reindex --all --embeddings-only`"
        )
    return warnings


def stale_versions() -> int:
    """Active versions embedded with another model or dimension, or with none at all."""
    from toolkit.models import ToolkitVersion

    current = f"{settings.EMBEDDING_MODEL} ({settings.EMBEDDING_DIMENSIONS}d)"
    if connection.connection is None:
        # readiness_problems closed it after a failure: a second try would wait out the pool timeout.
        return 0
    try:
        return ToolkitVersion.objects.filter(is_active=True).exclude(embedding_model=current).count()
    except DatabaseError:  # readiness_problems reports the database
        return 0
