"""Backup and restore as the app's own role, on a database laid out as DEPLOY.md §3 lays it out.

The role `toolkitrag` there is LOGIN, not superuser, and owns its database; the extension
`vector` is created by the superuser `postgres`. Here the embedded PostgreSQL plays that server:
a fresh non-superuser role owns a fresh database, the superuser creates the extension, and
migrate/backup/restore run in child `manage.py` processes connected as that role.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from psycopg import sql

from toolkitrag.backups import SKIPPED_TOC_ENTRY
from toolkitrag.embedded_db import server
from toolkitrag.embedded_db.server import POSTGRES_BIN
from toolkitrag.testing import REPO_ROOT

pytestmark = pytest.mark.system  # starts the backup and restore drill

ROLE, DATABASE = "toolkitrag_app_role", "toolkitrag_app_role_db"
INGEST_TOOLKIT = "from toolkitrag.testing.toolkits import ingest_toolkit"  # for `manage.py shell -c`


def superuser(dbname: str) -> psycopg.Connection:
    running = server.ensure_running(settings.DATABASES["default"]["PGDATA"])
    return psycopg.connect(
        host=running.socket_dir, port=running.port, user=running.user, dbname=dbname, autocommit=True
    )


def fingerprints(dbname: str) -> dict[str, tuple[int, str]]:
    """Row count and a content checksum of every table in the public schema."""
    with superuser(dbname) as conn:
        tables = [
            name for (name,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
        query = "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {} t"
        return {
            table: conn.execute(sql.SQL(query).format(sql.Identifier(table))).fetchone()
            for table in sorted(tables)
        }


def media_files(media_root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(media_root)): p.read_bytes() for p in media_root.rglob("*") if p.is_file()}


@pytest.fixture
def app_role_database():
    """A database owned by a non-superuser role, with pgvector created by the superuser."""
    if settings.DATABASES["default"]["ENGINE"] != "toolkitrag.embedded_db":
        pytest.skip("needs the embedded PostgreSQL (creates roles and databases as its superuser)")
    running = server.ensure_running(settings.DATABASES["default"]["PGDATA"])

    def drop() -> None:
        with superuser("postgres") as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(ROLE)))

    drop()  # left by an interrupted run
    with superuser("postgres") as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE").format(sql.Identifier(ROLE))
        )
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(DATABASE), sql.Identifier(ROLE))
        )
    with superuser(DATABASE) as conn:
        conn.execute("CREATE EXTENSION vector")
    yield f"postgresql://{ROLE}@/{DATABASE}?host={running.socket_dir}&port={running.port}"
    drop()


@pytest.fixture
def manage(app_role_database, fake_openai, tmp_path):
    """Run manage.py in a child process connected as the app role; fail with its output."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CACHE_URL", "TOOLKITRAG_ENV_FILE")
    }
    env.update(
        ENV="dev",
        DATABASE_URL=app_role_database,
        PG_BIN_DIR=str(POSTGRES_BIN.parent),  # client tools of the server's version, as in production
        MEDIA_ROOT=str(tmp_path / "media"),
        BACKUP_DIR=str(tmp_path / "backups"),
        EMBEDDING_BACKEND="openai",
        OPENAI_BASE_URL=fake_openai.base_url,
        OPENAI_API_KEY="test-key",
        EMBEDDING_MODEL="test-embedding",
        CHAT_BACKEND="none",
        DJANGO_SETTINGS_MODULE="toolkitrag.settings",
    )

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True
        )
        if check and result.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    run.env = env
    return run


def test_backup_and_restore_as_a_non_superuser_role_that_does_not_own_the_extension(manage, tmp_path):
    media_root, backup_dir = tmp_path / "media", tmp_path / "backups"
    manage("migrate", "--noinput")
    manage("shell", "-c", INGEST_TOOLKIT + "; ingest_toolkit()")
    before, files_before = fingerprints(DATABASE), media_files(media_root)
    assert before["toolkit_chunks"][0] == 5 and files_before
    with superuser(DATABASE) as conn:
        assert (
            conn.execute("SELECT count(*) FROM toolkit_chunks WHERE embedding IS NOT NULL").fetchone()[0] == 5
        )
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [ROLE]).fetchone() == (False,)

    manage("backup", "--label", "drill")
    (backup,) = [p for p in backup_dir.iterdir() if p.name.endswith("-drill")]
    listing = subprocess.run(
        [str(POSTGRES_BIN.parent / "pg_restore"), "--list", str(backup / "database.dump")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    skipped = [line for line in listing.splitlines() if SKIPPED_TOC_ENTRY.match(line)]
    assert any("EXTENSION - vector" in line for line in skipped), listing  # what --clean used to drop

    # Everything changes afterwards: data wiped, a table the backup never had, files gone.
    manage("flush", "--noinput")
    with psycopg.connect(manage.env["DATABASE_URL"], autocommit=True) as conn:
        conn.execute("CREATE TABLE made_after_the_backup (id int)")
    for path in sorted(media_root.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    assert fingerprints(DATABASE)["toolkit_chunks"][0] == 0

    result = manage("restore", str(backup), "--yes")
    assert "Restored the database and uploaded files" in result.stdout
    after = fingerprints(DATABASE)
    assert after == before  # same tables (the extra one is gone), same rows, same vectors
    assert media_files(media_root) == files_before
    with superuser(DATABASE) as conn:
        owner = conn.execute(
            "SELECT r.rolname FROM pg_extension e JOIN pg_roles r ON r.oid = e.extowner"
            " WHERE e.extname = 'vector'"
        ).fetchone()
        assert owner == ("postgres",)  # untouched: neither dropped nor recreated
    assert [p.name.endswith("-pre-restore") for p in backup_dir.iterdir()].count(True) == 1
    # The app works on the restored database: a vector search through the ORM.
    search = manage(
        "shell",
        "-c",
        "from rag.retrieval import retrieve; from toolkit.access import EVERY_TOOLKIT; "
        "r = retrieve('How often is the budget reviewed?', 3, viewer=EVERY_TOOLKIT); "
        "print(r.mode, r.chunks[0].heading)",
    )
    assert search.stdout.strip().splitlines()[-1] == "hybrid 1 Planning > 1.1 Budget"


def test_restore_sh_stops_restores_and_starts_and_leaves_services_stopped_on_failure(manage, tmp_path):
    """deploy/restore.sh end to end, as the app role. Stand-ins, because this machine has no
    systemd as PID 1 and no deployment to validate: `systemctl` is a script that records its
    arguments, and VALIDATE=true replaces validate-production.sh (the deploy drill runs both for
    real). The OS user is root here (SERVICE_USER=root); the database role is the app's."""
    media_root, backup_dir = tmp_path / "media", tmp_path / "backups"
    bin_dir, calls = tmp_path / "bin", tmp_path / "systemctl.calls"
    bin_dir.mkdir()
    (bin_dir / "systemctl").write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    (bin_dir / "systemctl").chmod(0o755)
    env_file = tmp_path / "toolkitrag.env"
    keys = ("ENV", "DATABASE_URL", "PG_BIN_DIR", "MEDIA_ROOT", "BACKUP_DIR")
    env_file.write_text("".join(f"{key}={manage.env[key]}\n" for key in keys) + "EMBEDDING_BACKEND=none\n")
    script_env = {
        key: value
        for key, value in manage.env.items()
        if key not in (*keys, "EMBEDDING_BACKEND", "OPENAI_API_KEY", "OPENAI_BASE_URL")
    }
    script_env.update(
        PATH=f"{bin_dir}:{os.environ['PATH']}",
        APP_DIR=str(REPO_ROOT),
        VENV=sys.prefix,
        TOOLKITRAG_ENV_FILE=str(env_file),
        SERVICE_USER="root",
        VALIDATE="true",
    )

    def restore_sh(*args: str) -> subprocess.CompletedProcess:
        calls.unlink(missing_ok=True)
        return subprocess.run(
            [str(REPO_ROOT / "deploy" / "restore.sh"), *args], env=script_env, capture_output=True, text=True
        )

    def systemctl_calls() -> list[str]:
        return calls.read_text().splitlines() if calls.exists() else []

    manage("migrate", "--noinput")
    manage("shell", "-c", INGEST_TOOLKIT + "; ingest_toolkit()")
    manage("backup", "--label", "good")
    good_db, good_files = fingerprints(DATABASE), media_files(media_root)
    # A backup whose migration history is inconsistent: `migrate` fails after it is restored.
    with psycopg.connect(manage.env["DATABASE_URL"], autocommit=True) as conn:
        first = ["toolkit", "0001_vector_extension"]
        conn.execute("DELETE FROM django_migrations WHERE app = %s AND name = %s", first)
        manage("backup", "--label", "inconsistent")
        conn.execute("INSERT INTO django_migrations (app, name, applied) VALUES (%s, %s, now())", first)
    manage("shell", "-c", INGEST_TOOLKIT + "; ingest_toolkit(version='v2')")
    current_db, current_files = fingerprints(DATABASE), media_files(media_root)
    assert current_db != good_db and current_files != good_files
    (good,) = backup_dir.glob("*-good")
    (inconsistent,) = backup_dir.glob("*-inconsistent")

    listing = restore_sh("--list")
    assert listing.returncode == 0, listing.stderr
    assert inconsistent.name in listing.stdout and good.name in listing.stdout and systemctl_calls() == []

    refused = restore_sh(str(tmp_path / "no-such-backup"), "--yes")
    assert refused.returncode == 1 and "Nothing was changed" in refused.stderr
    assert systemctl_calls() == []  # a bad backup does not even stop the services

    failed = restore_sh(str(inconsistent), "--yes")
    assert failed.returncode == 1
    assert "was put back: the database and uploaded files are as before the restore" in failed.stderr
    assert "left STOPPED" in failed.stderr
    assert systemctl_calls() == ["stop toolkitrag-worker toolkitrag"]  # and never started again
    assert fingerprints(DATABASE) == current_db and media_files(media_root) == current_files

    database_only = restore_sh(str(good), "--mode", "database", "--yes")
    assert database_only.returncode == 0, database_only.stdout + database_only.stderr
    assert systemctl_calls() == ["stop toolkitrag-worker toolkitrag", "start toolkitrag toolkitrag-worker"]
    assert fingerprints(DATABASE) == good_db and media_files(media_root) == current_files

    files_only = restore_sh(str(good), "--mode=files", "--yes")
    assert files_only.returncode == 0, files_only.stdout + files_only.stderr
    assert fingerprints(DATABASE) == good_db and media_files(media_root) == good_files


def test_the_backup_unit_commands_work_inside_its_system_call_filter(manage, tmp_path):
    """Both ExecStart= lines of toolkitrag-backup.service under the unit's NoNewPrivileges,
    SystemCallFilter (@system-service minus @privileged @resources), RestrictAddressFamilies and
    UMask, applied by toolkitrag/testing/unit_sandbox.py (a stand-in: no systemd as PID 1 here, so
    the mount and user namespace parts of the sandbox are not reproduced)."""
    pytest.importorskip("toolkitrag.testing.unit_sandbox")
    unit = REPO_ROOT / "deploy" / "toolkitrag-backup.service"
    sandbox = [sys.executable, "-m", "toolkitrag.testing.unit_sandbox", str(unit), "--"]
    backup_dir, offsite = tmp_path / "backups", tmp_path / "offsite"
    offsite.mkdir()
    env_file = tmp_path / "toolkitrag.env"
    keys = ("ENV", "DATABASE_URL", "PG_BIN_DIR", "MEDIA_ROOT", "BACKUP_DIR")
    env_file.write_text(
        "".join(f"{key}={manage.env[key]}\n" for key in keys)
        + f"EMBEDDING_BACKEND=none\nBACKUP_POST_HOOK=cp -r -t {offsite}\n"
    )
    env = {k: v for k, v in manage.env.items() if k not in (*keys, "EMBEDDING_BACKEND", "OPENAI_API_KEY")}
    env.update(
        APP_DIR=str(REPO_ROOT),
        VENV=sys.prefix,
        TOOLKITRAG_ENV_FILE=str(env_file),
        RUN_AS_CURRENT_USER="1",
        CONFIG_PATHS=str(env_file),
    )
    manage("migrate", "--noinput")
    for command in (["backup-database.sh", "scheduled", "auto"], ["backup-files.sh"]):
        result = subprocess.run(
            [*sandbox, str(REPO_ROOT / "deploy" / command[0]), *command[1:]],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, f"{command}: {result.stdout}\n{result.stderr}"
    (backup,) = backup_dir.glob("toolkitrag-*-scheduled")
    manifest = json.loads((backup / "manifest.json").read_text())
    assert (manifest["label"], manifest["mode"]) == ("scheduled", "all")  # the first one holds the files
    (archive,) = backup_dir.glob("config-*.tar.gz")
    assert archive.stat().st_mode & 0o777 == 0o600
    assert (backup / "database.dump").stat().st_mode & 0o077 == 0  # UMask=0077: the app user's only
    names = {p.name for p in offsite.iterdir()}
    assert names == {backup.name, archive.name}  # both went off-site through the hook
