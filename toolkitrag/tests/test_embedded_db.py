"""The embedded PostgreSQL: one server per data directory, shared, persistent, root or not."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import psutil
import psycopg
import pytest

from toolkitrag.embedded_db import server
from toolkitrag.testing import REPO_ROOT

START_AND_REPORT = textwrap.dedent(
    """
    import json, sys
    from toolkitrag.embedded_db import server
    running = server.ensure_running(sys.argv[1])
    server.ensure_database(running, "toolkitrag")
    import psycopg
    with psycopg.connect(running.database_url("toolkitrag")) as conn:
        pid = conn.execute("SELECT pg_postmaster_start_time()::text").fetchone()[0]
        ext = conn.execute("SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'").fetchone()[0]
    print(json.dumps({"started": pid, "vector_available": ext}))
    """
)


def start_in_child(pgdata, *, user: str | None = None) -> subprocess.Popen:
    command = [sys.executable, "-c", START_AND_REPORT, str(pgdata)]
    if user:
        command = ["runuser", "-u", user, "--", *command]
    return subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def report(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture
def pgdata(tmp_path):
    path = tmp_path / "pgdata"
    yield path
    server.stop(path)


def test_two_processes_starting_at_once_share_one_server(pgdata):
    first, second = start_in_child(pgdata), start_in_child(pgdata)
    a, b = report(first), report(second)
    assert a["started"] == b["started"]
    assert a["vector_available"] == 1
    # pg_ctl starts the server by its real path: compare real paths (the venv may be a symlink).
    postmasters = [
        process.pid
        for process in psutil.process_iter(["cmdline"])
        if process.info["cmdline"]
        and os.path.realpath(process.info["cmdline"][0]) == os.path.realpath(server.POSTGRES_BIN)
        and str(pgdata) in process.info["cmdline"]
    ]
    assert len(postmasters) == 1, postmasters


def test_data_survives_a_server_restart(pgdata):
    running = server.ensure_running(pgdata)
    server.ensure_database(running, "toolkitrag")
    with psycopg.connect(running.database_url("toolkitrag"), autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (note text)")
        conn.execute("INSERT INTO kept VALUES ('still here')")
    assert server.stop(pgdata) is True
    assert server.stop(pgdata) is False  # stopping twice is harmless

    running = server.ensure_running(pgdata)
    with psycopg.connect(running.database_url("toolkitrag")) as conn:
        assert conn.execute("SELECT note FROM kept").fetchone() == ("still here",)


def nobody_can_run_this_python() -> bool:
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        return False
    probe = subprocess.run(["runuser", "-u", "nobody", "--", sys.executable, "-c", ""], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(
    not nobody_can_run_this_python(),
    reason="needs root, runuser, and a Python that user 'nobody' may run (this one may live under /root); "
    "as a normal user the other tests here already run the non-root path",
)
def test_starts_for_a_normal_user_too(tmp_path):
    # Root runs PostgreSQL as a dedicated user; a normal user runs it as itself.
    home = tmp_path / "normal-user"
    home.mkdir()
    os.chmod(tmp_path, 0o755)  # noqa: S103 - the other user must reach its home inside it
    shutil.chown(home, "nobody")
    pgdata = home / "pgdata"
    try:
        result = report(start_in_child(pgdata, user="nobody"))
        assert result["vector_available"] == 1
        assert pgdata.stat().st_uid == shutil.os.stat(home).st_uid
    finally:
        subprocess.run(["runuser", "-u", "nobody", "--", str(server.POSTGRES_BIN.parent / "pg_ctl"),
                        "-D", str(pgdata), "-m", "fast", "stop"], capture_output=True)  # fmt: skip
