"""What /ready checks: the database answers, pgvector is installed, no migration is pending; and
what it warns about: Redis unreachable, a keyword index unusable, the embedding model."""

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor

from toolkit import keyword_index
from toolkit.embedding_checks import embedding_warnings


def readiness_problems() -> list[str]:
    """Return why the app cannot serve yet; an empty list means ready."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'")
            has_vector = cursor.fetchone() is not None
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as error:  # a probe answers 503, never 500, whatever broke
        if isinstance(error, DatabaseError):
            connection.close()  # a broken connection must not be reused by the next request
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return [f"database unreachable: {first_line}"]
    problems = []
    if not has_vector:
        problems.append("the pgvector extension is not installed (run migrations as a superuser)")
    if pending:
        problems.append(f"{len(pending)} migration(s) pending (run manage.py migrate)")
    return problems


def readiness_warnings() -> list[str]:
    """What works in a degraded way: not a reason to take the instance out of service."""
    return _cache_warnings() + keyword_index.problems() + embedding_warnings()


def _cache_warnings() -> list[str]:
    client = getattr(cache, "client", None)  # django-redis
    if client is None:
        return []
    try:
        client.get_client().ping()
    except Exception as error:  # any failure to reach Redis is the same warning
        effect = (
            "rate limits are not enforced"
            if settings.RATELIMIT_FAIL_OPEN
            else "rate-limited views answer 503"
        )
        return [f"cache (Redis) unreachable ({type(error).__name__}): {effect}"]
    return []
