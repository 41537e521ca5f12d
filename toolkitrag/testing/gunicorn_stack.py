"""gunicorn started as deploy/toolkitrag.service starts it (deploy/gunicorn.conf.py, an env file),
for the tests of the running app: reload, probes, request logs, the units' sandbox."""

# ruff: noqa: S310, S603 - local http:// URLs and the unit's own command line, built here

import json
import os
import secrets
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from toolkitrag.testing import REPO_ROOT
from toolkitrag.testing.smtp_server import NO_MAIL_URL

DEPLOY = REPO_ROOT / "deploy"


def unit_commands(unit: str, key: str, app_dir: Path = REPO_ROOT) -> list[list[str]]:
    """Every `key=` command line of a unit, in order, with the /srv paths pointed at this
    checkout and venv (systemd runs them in that order and stops at the first that fails)."""
    commands = []
    for line in (DEPLOY / unit).read_text().splitlines():
        if line.startswith(f"{key}="):
            command = line.split("=", 1)[1].replace("/srv/toolkitrag/venv", sys.prefix)
            commands.append(shlex.split(command.replace("/srv/toolkitrag/app", str(app_dir))))
    if not commands:
        raise LookupError(f"{unit} has no {key}=")
    return commands


def unit_command(unit: str, key: str = "ExecStart", app_dir: Path = REPO_ROOT) -> list[str]:
    """A unit's (first) `key=` command line, as unit_commands() gives it."""
    return unit_commands(unit, key, app_dir)[0]


def unit_for_this_checkout(unit: str, directory: Path) -> Path:
    """A copy of deploy/<unit> with paths pointed at this checkout (for systemd-analyze)."""
    text = (DEPLOY / unit).read_text()
    text = text.replace("/srv/toolkitrag/venv", sys.prefix).replace("/srv/toolkitrag/app", str(REPO_ROOT))
    path = directory / unit
    path.write_text(text)
    return path


def production_values(port: int, database_url: str, cache_url: str, **overrides: str) -> dict[str, str]:
    """An ENV=prod configuration for this box (the tests' database and Redis, a fresh secret)."""
    values = {
        "ENV": "prod",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "toolkit.example.org",
        "CSRF_TRUSTED_ORIGINS": "https://toolkit.example.org",
        "DATABASE_URL": database_url,
        "CACHE_URL": cache_url,
        "EMAIL_URL": NO_MAIL_URL,
        "CACHE_KEY_PREFIX": f"stack-{secrets.token_hex(4)}",
        "TRUSTED_PROXY_COUNT": "1",
        "EMBEDDING_BACKEND": "none",
        "CHAT_BACKEND": "none",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "2",
        "GUNICORN_THREADS": "8",
        "LOG_LEVEL": "INFO",
    }
    values.update(overrides)
    return values


@dataclass
class Gunicorn:
    process: subprocess.Popen
    url: str
    log_path: Path
    env: dict[str, str]  # the service's environment (with TOOLKITRAG_ENV_FILE), for ExecReload
    _log_file: object = field(repr=False, default=None)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def json_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.log().splitlines() if line.startswith("{")]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


def start_gunicorn(
    values: dict[str, str],
    directory: Path,
    *,
    app_dir: Path = REPO_ROOT,
    wrapper: list[str] | None = None,
    wait_for: str = "/health",
) -> Gunicorn:
    """Start the unit's ExecStart (optionally under `wrapper`) with `values` as its env file and
    wait until `wait_for` answers. The caller stops it (Gunicorn.stop)."""
    env_file = directory / "toolkitrag.env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(directory),
        "TOOLKITRAG_ENV_FILE": str(env_file),
        "PYTHONUNBUFFERED": "1",
        # gunicorn.conf.py reads these from the process environment (systemd: EnvironmentFile).
        **{key: value for key, value in values.items() if key.startswith("GUNICORN_")},
    }
    log_path = directory / "app.log"
    log_file = log_path.open("ab")
    process = subprocess.Popen(
        [*(wrapper or []), *unit_command("toolkitrag.service", app_dir=app_dir)],
        cwd=app_dir, env=env, stdout=log_file, stderr=log_file,
    )  # fmt: skip
    server = Gunicorn(process, "http://" + values["GUNICORN_BIND"], log_path, env, log_file)
    deadline = time.monotonic() + 90  # a timeout for a hung start, not a measurement
    while True:
        try:
            with urllib.request.urlopen(server.url + wait_for, timeout=5):
                return server
        except urllib.error.HTTPError:
            return server  # it answers; the caller looks at the status
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"gunicorn did not start:\n{server.log()}") from None
            time.sleep(0.2)


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """GET without raising on 4xx/5xx: (status, headers, body)."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()
