"""deploy/validate-production.sh against the real stack, and each of its checks made to fail.

One stack per module (starting gunicorn + nginx per case would be slow): gunicorn with
deploy/gunicorn.conf.py (ENV=prod) behind nginx with deploy/nginx.conf, a certificate for
toolkit.example.org signed by a throwaway CA, its own Redis (a case stops it), the test database,
a fake OpenAI server for the streamed answer and real backups made by deploy/backup-database.sh.
The green run must pass with 35+ checks; then each case breaks one thing, runs the script (only
the groups it is about, to keep the module quick), expects the named checks to fail, and repairs.

Stand-ins, because they cannot exist on this box:
- systemd is not PID 1 here: `systemctl` is toolkitrag/testing/fake_systemctl.py on PATH. The
  timers are the repo's own units; toolkitrag and toolkitrag-worker are stand-in units running
  `sleep` (the real gunicorn runs beside them, started by this module), so that stopping or
  disabling a unit is a real change of what systemctl reports.
- ufw must never be enabled on this machine (it would cut the session off): `ufw` is a small
  script printing what `ufw status verbose` prints, from a file each case may rewrite.
- "the disk is full" is a 1 MB tmpfs filled up (mount works as root here); "unwritable" is a
  read-only tmpfs. Where mount fails, the disk cases raise DISK_MIN_FREE_MB above what is free
  and the folder cases point at a missing folder instead (see full_disk() and unwritable()).
"""

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import psycopg
import pytest
from django.conf import settings
from django.test import override_settings

from toolkitrag.embedded_db.server import POSTGRES_BIN
from toolkitrag.testing.fake_openai import FakeOpenAI
from toolkitrag.testing.production_stack import (
    DEPLOY,
    REPO_ROOT,
    SITE_HOST,
    Stack,
    certificate_authority,
    run,
    signed_certificate,
)
from toolkitrag.testing.servers import child_database_url, free_port
from toolkitrag.testing.smtp_server import SmtpServer

SCRIPT = DEPLOY / "validate-production.sh"
BACKUP_TIMERS = sorted(path.name for path in DEPLOY.glob("toolkitrag-backup*.timer"))
TIMERS = [*BACKUP_TIMERS, "toolkitrag-healthcheck.timer"]
QUESTION = "How often is the budget reviewed?"
REPLY = "Every quarter, the treasurer reviews the budget with two trustees [1]."
UFW_GREEN = """Status: active
Logging: on (low)
Default: deny (incoming), allow (outgoing), disabled (routed)
New profiles: skip

To                         Action      From
--                         ------      ----
22/tcp                     ALLOW IN    Anywhere
80/tcp                     ALLOW IN    Anywhere
443/tcp                    ALLOW IN    Anywhere
22/tcp (v6)                ALLOW IN    Anywhere (v6)
80/tcp (v6)                ALLOW IN    Anywhere (v6)
443/tcp (v6)               ALLOW IN    Anywhere (v6)
"""
STAND_IN_SERVICE = """[Unit]
Description=stand-in for {name} (the real one runs beside it, started by the test)
[Service]
Type=simple
ExecStart=/bin/sleep infinity
[Install]
WantedBy=multi-user.target
"""

pytestmark = [
    pytest.mark.system,  # gunicorn behind nginx, Redis, the validation script
    pytest.mark.skipif(
        not all(shutil.which(tool) for tool in ("nginx", "openssl", "redis-server", "redis-cli", "curl")),
        reason="needs nginx, openssl, redis-server and curl (apt-get install them)",
    ),
    # Makes pytest-django create the test database; the stack's data is committed by the module
    # fixture (the app runs in other processes) and flushed when the module ends.
    pytest.mark.django_db,
]


def try_mount(target: Path, options: str) -> bool:
    target.mkdir(parents=True, exist_ok=True)
    return run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)]).returncode == 0


@dataclass
class Lab:
    """Everything a case may break, and the script's environment."""

    stack: Stack
    env: dict[str, str]
    directory: Path
    redis: subprocess.Popen
    redis_port: int
    ca: tuple[Path, Path]
    certs: dict[str, tuple[Path, Path]]
    mounts: dict[str, Path | None]

    def validate(self, *args: str, **overrides: str) -> subprocess.CompletedProcess:
        return run(["bash", str(SCRIPT), *args], env={**self.env, **overrides})

    def report(self, **overrides: str) -> tuple[dict, subprocess.CompletedProcess]:
        result = self.validate("--json", **overrides)
        return json.loads(result.stdout), result

    def systemctl(self, *args: str) -> None:
        result = run(["systemctl", *args], env=self.env)
        assert result.returncode == 0, result.stderr

    def start_redis(self) -> None:
        self.redis = subprocess.Popen(
            ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while run(["redis-cli", "-p", str(self.redis_port), "ping"]).stdout.strip() != "PONG":
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.1)

    def stop_redis(self) -> None:
        self.redis.send_signal(signal.SIGTERM)
        self.redis.wait(20)

    def scheduled_backup(self) -> Path:
        (found,) = Path(self.stack.env_values["BACKUP_DIR"]).glob("toolkitrag-*-scheduled")
        return found


@pytest.fixture(scope="module")
def lab(tmp_path_factory, django_db_setup, django_db_blocker):
    directory = tmp_path_factory.mktemp("validate")
    ca = certificate_authority(directory)
    certs = {
        "good": signed_certificate(directory, ca, SITE_HOST, 90, "good"),
        "short": signed_certificate(directory, ca, SITE_HOST, 2, "short"),
        "other-host": signed_certificate(directory, ca, "other.example.org", 90, "other"),
    }
    stack = Stack(directory, *certs["good"])
    var = directory / "var"
    for folder in ("media", "backups"):
        (var / folder).mkdir(parents=True)
    redis_port = free_port()
    fake = FakeOpenAI(dimensions=settings.EMBEDDING_DIMENSIONS).start()
    fake.chat_reply = lambda messages: REPLY
    # A pause in the middle of the answer: through a passing proxy the first tokens reach the
    # probe long before the end; a buffering one hands everything over at once.
    fake.before_token = lambda i: time.sleep(1.5) if i == 4 else None
    smtp = SmtpServer().start()  # the mail server the email-server check logs in to
    stack.write_env(
        {
            "ENV": "prod",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": SITE_HOST,
            "CSRF_TRUSTED_ORIGINS": f"https://{SITE_HOST}:{stack.https_port}",
            "DATABASE_URL": child_database_url(),
            "CACHE_URL": f"redis://127.0.0.1:{redis_port}/0",
            "EMAIL_URL": smtp.url,
            "TRUSTED_PROXY_COUNT": "1",
            "STATIC_ROOT": str(directory / "static"),
            "MEDIA_ROOT": str(var / "media"),
            "BACKUP_DIR": str(var / "backups"),
            "PG_BIN_DIR": str(POSTGRES_BIN.parent),
            "CHAT_BACKEND": "openai",
            "OPENAI_BASE_URL": fake.base_url,
            "OPENAI_API_KEY": "stack-test",
            "CHAT_MODEL": "stack-chat",
            "EMBEDDING_BACKEND": "none",
            "LOG_FORMAT": "json",
        }
    )
    # systemctl and ufw stand-ins (see the module docstring).
    bin_dir, units, state = directory / "bin", directory / "units", directory / "systemd-state"
    for folder in (bin_dir, units, state):
        folder.mkdir()
    (bin_dir / "systemctl").symlink_to(REPO_ROOT / "toolkitrag" / "testing" / "fake_systemctl.py")
    ufw_status = directory / "ufw-status"
    ufw_status.write_text(UFW_GREEN)
    (bin_dir / "ufw").write_text(
        '#!/bin/sh\n# stand-in: never touch the real firewall here\ncat "$FAKE_UFW_STATUS"\n'
    )
    (bin_dir / "ufw").chmod(0o755)
    for name in ("toolkitrag.service", "toolkitrag-worker.service"):
        (units / name).write_text(STAND_IN_SERVICE.format(name=name))
    for timer in TIMERS:
        for unit in (timer, timer.replace(".timer", ".service")):
            if (DEPLOY / unit).exists():
                shutil.copy(DEPLOY / unit, units / unit)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "HOME": str(directory),
        "LANG": "C.UTF-8",
        "FAKE_SYSTEMD_UNITS": str(units),
        "FAKE_SYSTEMD_STATE": str(state),
        "FAKE_UFW_STATUS": str(ufw_status),
        "TOOLKITRAG_ENV_FILE": str(stack.env_file),
        "APP_DIR": str(REPO_ROOT),
        "VENV": sys.prefix,
        "SERVICE_USER": "root",
        "LOG_DIR": str(stack.logs),
        "DATA_DIR": str(var),
        "APP_URL": stack.app_url,
        "SITE_URL": f"https://{SITE_HOST}:{stack.https_port}",
        "HTTP_URL": f"http://{SITE_HOST}:{stack.http_port}",
        "SITE_ADDRESS": "127.0.0.1",
        "CA_BUNDLE": str(ca[0]),
        "PROBE_QUESTION": QUESTION,
    }
    mounts: dict[str, Path | None] = {"full": None, "read-only": None}
    mount_root: Path | None = None
    lab = Lab(stack, env, directory, None, redis_port, ca, certs, mounts)  # type: ignore[arg-type]
    try:
        with (
            django_db_blocker.unblock(),
            override_settings(
                MEDIA_ROOT=str(var / "media"),
                KEYWORD_INDEX_DIR=str(var / "keyword-index"),
                EMBEDDING_BACKEND="none",
            ),
        ):
            from toolkitrag.testing.toolkits import ingest_toolkit

            ingest_toolkit()
        # Outside pytest's temporary folders: another pytest session cleaning up old ones must
        # never meet a mount point.
        mount_root = Path(tempfile.mkdtemp(prefix="toolkitrag-validate-mounts-"))
        if try_mount(mount_root / "full", "size=1m"):
            mounts["full"] = mount_root / "full"
            run(["dd", "if=/dev/zero", f"of={mount_root}/full/filler", "bs=64k"])  # until the disk is full
        if try_mount(mount_root / "ro", "ro,size=1m"):
            mounts["read-only"] = mount_root / "ro"
        lab.start_redis()
        stack.collectstatic()
        stack.start_gunicorn()
        stack.start_nginx()
        lab.systemctl("daemon-reload")
        lab.systemctl("enable", "--now", "toolkitrag", "toolkitrag-worker", *TIMERS)
        backup_env = {**env, "RUN_AS_CURRENT_USER": "1"}
        # A fresh safety backup after the scheduled one: it must not count as the scheduled one.
        for label in ("scheduled", "pre-restore"):
            made = run([str(DEPLOY / "backup-database.sh"), label], env=backup_env)
            assert made.returncode == 0, made.stdout + made.stderr
            time.sleep(1.1)  # backup names carry the second
        yield lab
    finally:
        run(["systemctl", "stop", "toolkitrag", "toolkitrag-worker", *TIMERS], env=env)
        stack.stop()
        if lab.redis is not None:
            lab.stop_redis()
        fake.stop()
        smtp.stop()
        for mount in mounts.values():
            if mount is not None:
                run(["umount", str(mount)])
        if mount_root is not None:
            shutil.rmtree(mount_root, ignore_errors=True)
        with django_db_blocker.unblock():
            from django.core.management import call_command

            call_command("flush", interactive=False, verbosity=0)  # what a transactional test leaves


@pytest.fixture(scope="module")
def green(lab) -> dict:
    report, result = lab.report()
    failed = [check for check in report["checks"] if check["status"] != "pass"]
    assert result.returncode == 0 and not failed, json.dumps(failed, indent=1) + result.stderr
    return report


def test_the_green_stack_passes_35_checks_or_more(lab, green):
    result = lab.validate()
    print(result.stdout)  # shown with -s or on failure: what an operator sees
    lines = result.stdout.strip().splitlines()
    assert result.returncode == 0, result.stdout + result.stderr
    passed = [line for line in lines if line.startswith("✓")]
    assert len(passed) >= 35, result.stdout
    assert not [line for line in lines if line.startswith(("✗", "–"))]
    assert lines[-1] == f"{len(passed)} passed, 0 failed, 0 skipped."
    assert green["summary"] == {"passed": len(passed), "failed": 0, "skipped": 0, "ok": True}
    assert [check["name"] for check in green["checks"]] == [line[2:].split(":")[0] for line in passed]
    # The probe left nothing behind (its conversation and session are gone), and its user can do
    # nothing an ordinary signed-in user cannot: no password to log in with, no staff rights.
    with psycopg.connect(child_database_url()) as connection:
        left = connection.execute(
            "SELECT count(*) FROM conversations c JOIN users u ON u.id = c.user_id WHERE u.username = %s",
            ["toolkitrag-probe"],
        ).fetchone()[0]
        sessions = connection.execute("SELECT count(*) FROM django_session").fetchone()[0]
        probe = connection.execute(
            "SELECT password, is_staff, is_superuser FROM users WHERE username = 'toolkitrag-probe'"
        ).fetchone()
    assert left == 0 and sessions == 0
    assert probe[0].startswith("!") and probe[1:] == (False, False)  # "!": Django's unusable password


def test_skipped_checks_are_reported_as_skipped_never_as_passed(lab, green):
    report, result = lab.report(SKIP="firewall,rate-limit-429")
    statuses = {check["name"]: check["status"] for check in report["checks"]}
    assert statuses["firewall-active"] == statuses["firewall-rules"] == statuses["rate-limit-429"] == "skip"
    assert report["summary"]["skipped"] == 3 and result.returncode == 0
    text = lab.validate(SKIP="firewall").stdout
    assert "– firewall-active (skipped: SKIP=firewall)" in text and "✓ firewall" not in text


# --- the cases: each breaks one thing and names the checks that must fail -------------------------------

Undo = Callable[[], None]


def env_file(**changes: str) -> Callable[[Lab], Undo]:
    def breaks(lab: Lab) -> Undo:
        before = dict(lab.stack.env_values)
        lab.stack.write_env({**before, **changes})
        return lambda: lab.stack.write_env(before)

    return breaks


def script_env(**changes: str) -> Callable[[Lab], Undo]:
    def breaks(lab: Lab) -> Undo:
        before = dict(lab.env)
        lab.env.update(changes)
        return lambda: (lab.env.clear(), lab.env.update(before))

    return breaks


def nginx_site(old: str, new: str) -> Callable[[Lab], Undo]:
    def edit(site: str) -> str:
        assert old in site, f"deploy/nginx.conf no longer holds {old!r}: update this case"
        return site.replace(old, new)

    def breaks(lab: Lab) -> Undo:
        lab.stack.restart_nginx(edit)
        return lab.stack.restart_nginx

    return breaks


def systemctl(action: str, unit: str, undo: str) -> Callable[[Lab], Undo]:
    def breaks(lab: Lab) -> Undo:
        lab.systemctl(action, unit)
        return lambda: lab.systemctl(undo, unit)

    return breaks


def certificate(name: str) -> Callable[[Lab], Undo]:
    def breaks(lab: Lab) -> Undo:
        lab.stack.cert, lab.stack.key = lab.certs[name]
        lab.stack.restart_nginx()

        def undo() -> None:
            lab.stack.cert, lab.stack.key = lab.certs["good"]
            lab.stack.restart_nginx()

        return undo

    return breaks


def file_mode(mode: int) -> Callable[[Lab], Undo]:
    def breaks(lab: Lab) -> Undo:
        lab.stack.env_file.chmod(mode)
        return lambda: lab.stack.env_file.chmod(0o640)

    return breaks


def env_file_owner(lab: Lab) -> Undo:
    os.chown(lab.stack.env_file, 65534, 65534)  # nobody: the app could rewrite its own settings
    return lambda: os.chown(lab.stack.env_file, 0, 0)


def database_url_closed_port(lab: Lab) -> Undo:
    url = lab.stack.env_values["DATABASE_URL"]  # ...?host=SOCKET_DIR&port=N (the embedded server)
    closed = re.sub(r"port=\d+", f"port={free_port()}", url)
    assert closed != url
    return env_file(DATABASE_URL=closed)(lab)


def database_without_pgvector(lab: Lab) -> Undo:
    url = lab.stack.env_values["DATABASE_URL"]
    name = f"novector_{secrets.token_hex(4)}"
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")  # a name of our own making, not input
    undo_env = env_file(DATABASE_URL=url.rsplit("/", 1)[0] + "/" + name)(lab)

    def undo() -> None:
        undo_env()
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE {name} WITH (FORCE)")

    return undo


def pending_migration(lab: Lab) -> Undo:
    """Forget that the newest toolkit migration was applied: the app sees it pending."""
    with psycopg.connect(lab.stack.env_values["DATABASE_URL"], autocommit=True) as connection:
        row = connection.execute(
            "DELETE FROM django_migrations WHERE id = (SELECT id FROM django_migrations "
            "WHERE app = 'toolkit' ORDER BY name DESC LIMIT 1) RETURNING app, name, applied"
        ).fetchone()

    def undo() -> None:
        with psycopg.connect(lab.stack.env_values["DATABASE_URL"], autocommit=True) as connection:
            connection.execute("INSERT INTO django_migrations (app, name, applied) VALUES (%s, %s, %s)", row)

    return undo


def redis_down(lab: Lab) -> Undo:
    lab.stop_redis()
    return lab.start_redis


def gunicorn_down(lab: Lab) -> Undo:
    lab.stack.stop_gunicorn()
    return lab.stack.start_gunicorn


def nginx_down(lab: Lab) -> Undo:
    lab.stack.stop_nginx()
    return lab.stack.start_nginx


def rate_limits_off(lab: Lab) -> Undo:
    undo_env = env_file(RATE_LIMIT_ENABLED="false")(lab)
    lab.stack.stop_gunicorn()
    lab.stack.start_gunicorn()

    def undo() -> None:
        undo_env()
        lab.stack.stop_gunicorn()
        lab.stack.start_gunicorn()

    return undo


def unwritable(setting: str) -> Callable[[Lab], Undo]:
    def breaks(lab: Lab) -> Undo:
        target = lab.mounts["read-only"] or lab.directory / "missing-folder"
        return env_file(**{setting: str(target)})(lab)

    return breaks


def full_disk(variable: str) -> Callable[[Lab], Undo]:
    def breaks(lab: Lab) -> Undo:
        if lab.mounts["full"] is None:  # stand-in: ask for more free space than there is
            return script_env(DISK_MIN_FREE_MB=str(10**12))(lab)
        return script_env(**{variable: str(lab.mounts["full"])})(lab)

    return breaks


def big_log(lab: Lab) -> Undo:
    log = lab.stack.logs / "worker.log"
    with log.open("wb") as handle:
        handle.truncate(600 * 1024 * 1024)  # sparse: 600 MB to du --apparent-size, no disk used
    return log.unlink


def error_line(lab: Lab) -> Undo:
    line = json.dumps({"time": datetime.now(UTC).isoformat(), "level": "ERROR", "message": "test: broken"})
    log = lab.stack.logs / "app.log"
    # Emptied first, as logrotate's copytruncate does (the app appends, so it carries on at the new
    # end): earlier cases (Redis down...) rightly logged errors, and this case is about one line.
    with log.open("r+") as handle:
        handle.truncate(0)
    with log.open("a") as handle:
        handle.write(line + "\n")

    def undo() -> None:
        kept = [text for text in log.read_text().splitlines(keepends=True) if text.strip() != line]
        log.write_text("".join(kept))

    return undo


def manifest_change(**changes) -> Callable[[Lab], Undo]:
    def breaks(lab: Lab) -> Undo:
        path = lab.scheduled_backup() / "manifest.json"
        before = path.read_text()
        path.write_text(json.dumps({**json.loads(before), **changes}))
        return lambda: path.write_text(before)

    return breaks


def corrupt_backup(lab: Lab) -> Undo:
    dump = lab.scheduled_backup() / "database.dump"
    before = dump.read_bytes()
    dump.write_bytes(before[:-10] + b"0123456789")
    return lambda: dump.write_bytes(before)


def ufw(status: str) -> Callable[[Lab], Undo]:
    def breaks(lab: Lab) -> Undo:
        path = Path(lab.env["FAKE_UFW_STATUS"])
        path.write_text(status)
        return lambda: path.write_text(UFW_GREEN)

    return breaks


def header_line(name: str) -> str:
    line = next(
        line for line in (DEPLOY / "nginx.conf").read_text().splitlines() if f"add_header {name} " in line
    )
    return line + "\n"


STATIC_UNCACHED = (
    "    location /static/ {\n        proxy_hide_header Cache-Control;\n"
    '        add_header Cache-Control "no-cache";\n        proxy_pass http://toolkitrag_app;\n    }\n\n'
    "    location / {\n"
)
THREE_DAYS_AGO = (datetime.now(UTC) - timedelta(days=3)).isoformat()

CASES: list[tuple[str, Callable[[Lab], Undo], list[str]]] = [
    *[
        case
        for unit in ("toolkitrag", "toolkitrag-worker")
        for case in (
            (f"{unit} stopped", systemctl("stop", unit, "start"), [f"{unit}-active"]),
            (f"{unit} disabled", systemctl("disable", unit, "enable"), [f"{unit}-enabled"]),
        )
    ],
    *[
        case
        for timer in TIMERS
        for case in (
            (f"{timer} disabled", systemctl("disable", timer, "enable"), [f"{timer}-enabled"]),
            (f"{timer} stopped", systemctl("stop", timer, "start"), [f"{timer}-scheduled"]),
        )
    ],
    ("env file world-readable", file_mode(0o644), ["env-file-mode"]),
    ("env file owned by another user", env_file_owner, ["env-file-owner"]),
    ("ENV=dev", env_file(ENV="dev"), ["env-prod"]),
    ("DEBUG=true", env_file(DEBUG="true"), ["debug-off"]),
    ("short SECRET_KEY", env_file(SECRET_KEY="short-secret"), ["secret-key-length"]),
    ("ALLOWED_HOSTS of another site", env_file(ALLOWED_HOSTS="other.example.org"), ["allowed-hosts"]),
    ("ALLOWED_HOSTS=*", env_file(ALLOWED_HOSTS="*"), ["allowed-hosts"]),
    (
        "CSRF origin of another site",
        env_file(CSRF_TRUSTED_ORIGINS="https://other.example.org"),
        ["csrf-origins"],
    ),
    ("cookies over HTTP", env_file(COOKIE_SECURE="false"), ["cookies-secure"]),
    ("no trusted proxy", env_file(TRUSTED_PROXY_COUNT="0"), ["trusted-proxy", "rate-limit-429"]),
    ("rate limits off", rate_limits_off, ["rate-limits-enabled", "rate-limit-429"]),
    ("PostgreSQL unreachable", database_url_closed_port, ["postgres-reachable", "pgvector-installed"]),
    ("database without pgvector", database_without_pgvector, ["pgvector-installed", "migrations-applied"]),
    ("pending migration", pending_migration, ["migrations-applied", "app-ready", "proxy-ready"]),
    ("Redis down", redis_down, ["redis-reachable", "ready-no-warnings", "rate-limit-429"]),
    (
        "CACHE_URL at a closed port",
        lambda lab: env_file(CACHE_URL=f"redis://127.0.0.1:{free_port()}/0")(lab),
        ["redis-reachable"],
    ),  # fmt: skip
    (
        "mail server unreachable",
        lambda lab: env_file(EMAIL_URL=f"smtp://127.0.0.1:{free_port()}")(lab),
        ["email-server"],
    ),  # fmt: skip
    ("gunicorn down", gunicorn_down, ["app-health", "app-ready", "ready-no-warnings", "proxy-health"]),
    ("nginx down", nginx_down, ["proxy-health", "proxy-ready", "http-redirect", "tls-expiry", "tls-trust"]),
    (
        "plain HTTP served, no redirect",
        nginx_site(
            "location / { return 301", "location / { return 200 'plain'; }\n    location /x { return 301"
        ),
        ["http-redirect"],
    ),
    ("certificate expires in 2 days", certificate("short"), ["tls-expiry"]),
    ("certificate for another host", certificate("other-host"), ["tls-trust"]),
    ("no certificate authority trusted", script_env(CA_BUNDLE=os.devnull), ["tls-trust"]),
    ("site over plain HTTP", script_env(SITE_URL=f"http://{SITE_HOST}"), ["tls-expiry"]),
    *[
        (f"{header} missing", nginx_site(header_line(header), ""), [check])
        for header, check in (
            ("Strict-Transport-Security", "header-hsts"),
            ("Content-Security-Policy", "header-csp"),
            ("X-Content-Type-Options", "header-content-type-options"),
            ("X-Frame-Options", "header-frame-options"),
            ("Referrer-Policy", "header-referrer-policy"),
        )
    ],
    ("X-Frame-Options twice", nginx_site("proxy_hide_header X-Frame-Options;", ""), ["header-frame-options"]),
    ("short HSTS", nginx_site("max-age=31536000", "max-age=300"), ["header-hsts"]),
    (
        "buffering proxy",
        nginx_site("proxy_buffering off;", "proxy_buffering on; proxy_ignore_headers X-Accel-Buffering;"),
        ["stream-pieces"],
    ),  # fmt: skip
    ("static files not cached", nginx_site("    location / {\n", STATIC_UNCACHED), ["static-cache"]),
    ("media folder unwritable", unwritable("MEDIA_ROOT"), ["media-writable"]),
    ("backup folder unwritable", unwritable("BACKUP_DIR"), ["backup-writable"]),
    ("data disk full", full_disk("DATA_DIR"), ["disk-data"]),
    ("log disk full", full_disk("LOG_DIR"), ["disk-logs"]),
    ("600 MB of logs", big_log, ["log-size"]),
    ("an ERROR line in app.log", error_line, ["log-errors"]),
    (
        "stale scheduled backup, fresh pre-restore one",
        manifest_change(created_at=THREE_DAYS_AGO),
        ["backup-database-recent"],
    ),  # fmt: skip
    ("scheduled backups hold no files", manifest_change(mode="database"), ["backup-files-recent"]),
    ("newest scheduled backup corrupt", corrupt_backup, ["backup-checksums"]),
    ("firewall inactive", ufw("Status: inactive\n"), ["firewall-active", "firewall-rules"]),
    (
        "firewall opens PostgreSQL",
        ufw(UFW_GREEN + "5432/tcp                   ALLOW IN    Anywhere\n"),
        ["firewall-rules"],
    ),  # fmt: skip
]


def test_every_check_has_a_case_that_makes_it_fail(green):
    covered = {name for _, _, names in CASES for name in names}
    assert {check["name"] for check in green["checks"]} - covered == set()


@pytest.mark.parametrize(
    ("breaks", "expected"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_each_check_fails_when_its_thing_is_broken(lab, green, breaks, expected):
    groups = {check["name"]: check["group"] for check in green["checks"]}
    # Only the groups this case is about run: quicker, and nothing else can hide the result.
    skip = sorted(set(groups.values()) - {groups[name] for name in expected})
    undo = breaks(lab)
    try:
        report, result = lab.report(SKIP=",".join(skip))
    finally:
        undo()
    statuses = {check["name"]: check for check in report["checks"]}
    assert result.returncode == 1, result.stdout
    assert report["summary"]["ok"] is False
    print("\n".join(f"{name}: {statuses[name]['message']}" for name in expected))  # what the operator reads
    for name in expected:
        assert statuses[name]["status"] == "fail", statuses[name]
        assert len(statuses[name]["message"]) > 20  # says what is wrong and what to do


# --- the health-check timer's alerts ---------------------------------------------------------------------


class Webhook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Webhook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_healthcheck_alerts_once_per_failure_and_says_when_it_recovered(lab, green, tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Webhook)
    Thread(target=server.serve_forever, daemon=True).start()
    Webhook.received.clear()
    quick = sorted({c["group"] for c in green["checks"]} - {"firewall", "env", "services"})
    env = {
        **lab.env,
        "STATE_DIR": str(tmp_path / "state"),
        "ALERT_WEBHOOK_URL": f"http://127.0.0.1:{server.server_port}/hook",
        "SKIP": ",".join(quick),  # the checks that need no Django start, to keep this test short
    }
    healthcheck = [str(DEPLOY / "healthcheck.sh")]
    try:
        assert run(healthcheck, env=env).returncode == 0
        assert Webhook.received == []  # green and nothing to recover from: nobody is bothered

        undo = ufw("Status: inactive\n")(lab)
        try:
            first = run(healthcheck, env=env)
            again = run(healthcheck, env=env)
        finally:
            undo()
        assert first.returncode == again.returncode == 1
        (alert,) = Webhook.received  # the same failure five minutes later does not alert again
        assert "2 check(s) failing" in alert["subject"]
        assert [line.split(":")[0] for line in alert["failing"]] == ["firewall-active", "firewall-rules"]

        recovered = run(healthcheck, env=env)
        assert recovered.returncode == 0
        assert len(Webhook.received) == 2 and "recovered" in Webhook.received[1]["subject"]
    finally:
        server.shutdown()
