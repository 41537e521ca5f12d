"""`systemctl reload toolkitrag` serves the code now on disk, without failing a request.

A throwaway copy of the app runs under the unit's ExecStart (deploy/gunicorn.conf.py); a view is
edited on disk and the unit's ExecReload= lines are run as systemd runs them (in order, stopping at
the first that fails, $MAINPID = gunicorn's master) while clients keep asking, never stopping.
With preload_app = True the old code was served for ever (issue 15).
"""

import json
import shutil
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from toolkitrag.testing import REPO_ROOT
from toolkitrag.testing.gunicorn_stack import Gunicorn, start_gunicorn, unit_commands
from toolkitrag.testing.servers import free_port

pytestmark = pytest.mark.system  # starts gunicorn

OLD = 'JsonResponse({"status": "ok"})'
NEW = 'JsonResponse({"status": "ok", "code": "new"})'


class Clients:
    """Three clients asking /health over and over, each answer or failure recorded.

    Each waits 50 ms between requests: about 60 requests a second in all, so that no worker reaches
    gunicorn's max_requests (5000+) and is recycled during a test (a recycled worker imports the
    code on disk too, which the second test must not see)."""

    def __init__(self, url: str):
        self.url = url
        self.answers: list[dict] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._ask) for _ in range(3)]

    def _ask(self) -> None:
        while not self._stop.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=30) as response:
                    self.answers.append(json.loads(response.read()))
            except (OSError, ValueError) as error:  # refused, reset, 5xx, a cut body
                self.failures.append(repr(error))
            time.sleep(0.05)

    def __enter__(self) -> "Clients":
        for thread in self._threads:
            thread.start()
        self.wait_for(lambda: len(self.answers) >= 20)  # all of them in flight
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def wait_for(self, condition, what: str = "answers") -> None:
        deadline = time.monotonic() + 60  # a timeout for a stuck server, not a measurement
        while not condition():
            assert time.monotonic() < deadline, f"gave up waiting for {what}: last {self.answers[-1:]}"
            time.sleep(0.05)

    def last(self, count: int) -> list[dict]:
        return self.answers[-count:] if len(self.answers) >= count else []


@pytest.fixture
def app_copy(tmp_path) -> tuple[Path, Gunicorn]:
    """A copy of the app (so that its code can be edited) served as the unit serves it."""
    app_dir = tmp_path / "app"
    ignore = shutil.ignore_patterns(".venv", ".git", "var", "staticfiles", "__pycache__", "node_modules")
    shutil.copytree(REPO_ROOT, app_dir, ignore=ignore)
    assert (app_dir / "toolkitrag" / "views.py").read_text().count(OLD) == 1  # the view the tests edit
    (tmp_path / "run").mkdir()
    values = {
        "ENV": "dev",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        # /health needs no database; one that is not there keeps these tests to the reload.
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/toolkitrag",
        "LOG_FORMAT": "json",
        "GUNICORN_BIND": f"127.0.0.1:{free_port()}",
        "GUNICORN_WORKERS": "2",
        "GUNICORN_THREADS": "4",
    }
    app = start_gunicorn(values, tmp_path / "run", app_dir=app_dir)
    yield app_dir, app
    app.stop()


def systemctl_reload(app_dir: Path, app: Gunicorn) -> bool:
    """Run the unit's ExecReload= lines as systemd does; False if one failed (reload failed)."""
    commands = unit_commands("toolkitrag.service", "ExecReload", app_dir=app_dir)
    assert commands[-1] == ["/bin/kill", "-s", "HUP", "$MAINPID"]
    for command in commands:
        command = [part.replace("$MAINPID", str(app.process.pid)) for part in command]
        if subprocess.run(command, cwd=app_dir, env=app.env, capture_output=True, timeout=120).returncode:
            return False
    return True


def test_reload_serves_the_new_code_without_failing_a_request(app_copy):
    app_dir, app = app_copy
    with Clients(app.url + "/health") as clients:
        assert clients.answers[-1] == {"status": "ok"}  # the code as it was
        views = app_dir / "toolkitrag" / "views.py"
        views.write_text(views.read_text().replace(OLD, NEW))
        assert systemctl_reload(app_dir, app)
        # New workers start, the old ones retire: soon every answer comes from the new code.
        clients.wait_for(
            lambda: all(answer.get("code") == "new" for answer in clients.last(10) or [{}]), "the new code"
        )
    assert clients.failures == []  # not one request refused, reset or failed during the reload
    assert "Handling signal: hup" in app.log()


def test_a_reload_with_code_that_cannot_load_is_refused_and_the_old_code_keeps_serving(app_copy):
    app_dir, app = app_copy
    with Clients(app.url + "/health") as clients:
        views = app_dir / "toolkitrag" / "views.py"
        views.write_text(views.read_text().replace(OLD, NEW) + "\ndef broken(:\n")
        assert systemctl_reload(app_dir, app) is False  # `manage.py check` failed: no HUP sent
        seen = len(clients.answers)
        clients.wait_for(lambda: len(clients.answers) >= seen + 30)
        assert app.process.poll() is None  # gunicorn is still up
    assert clients.failures == []
    assert all(answer == {"status": "ok"} for answer in clients.answers)  # the old code throughout
    assert "Handling signal: hup" not in app.log()
