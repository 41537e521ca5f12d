"""The app and its services for tests that run it in child processes: free ports, the test
database's URL for a child, Redis, and gunicorn started with a given environment."""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.conf import settings

from toolkitrag.embedded_db import server
from toolkitrag.testing import REPO_ROOT

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def redis_available(url: str = REDIS_URL) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_database_url() -> str:
    """A DATABASE_URL for the test database, for app servers running in child processes."""
    database = settings.DATABASES["default"]
    if database["ENGINE"] == "toolkitrag.embedded_db":
        running = server.ensure_running(database["PGDATA"])
        return running.database_url(database["NAME"])
    return os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + database["NAME"]


class AppServer:
    """gunicorn serving the app in a child process, with its log."""

    def __init__(self, process: subprocess.Popen, url: str, log_path: Path):
        self.process = process
        self.url = url
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_gunicorn(
    log_dir: Path,
    env_overrides: dict[str, str],
    *,
    wait_for: str = "/health",
    wsgi: str = "toolkitrag.wsgi",
    port: int | None = None,
) -> AppServer:
    """Start the app (or another WSGI module, e.g. the test OpenID provider) under gunicorn (one
    worker, a free port unless given) and wait until `wait_for` answers."""
    port = port or free_port()
    log_path = log_dir / f"gunicorn-{port}.log"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "CACHE_URL", "ENV", "DEBUG")
    }
    env.update({"ENV": "dev", "LOG_FORMAT": "json", "LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1"})
    env.update(env_overrides)
    log_file = open(log_path, "wb")  # noqa: SIM115 - the child process writes to it until it stops
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
        + ["--error-logfile", "-", wsgi],
        cwd=REPO_ROOT,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    app = AppServer(process, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + 30  # a start-up budget, not a measurement: generous on a busy machine
    while True:
        try:
            with urllib.request.urlopen(app.url + wait_for, timeout=2):  # noqa: S310 - local http URL
                return app
        except urllib.error.HTTPError:
            return app  # it answers; the test looks at the status itself
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                app.stop()
                raise RuntimeError(f"gunicorn did not start:\n{app.log()}") from None
            time.sleep(0.1)
