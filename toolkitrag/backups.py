"""Backups and restores: a pg_dump of the database plus an archive of uploaded files, with a
manifest that lets a restore check everything before it touches anything.

A backup is one directory, `<BACKUP_DIR>/toolkitrag-YYYYmmdd-HHMMSS[-label]/`, holding
`database.dump` (pg_dump custom format), `media.tar.gz` and `manifest.json` (sizes, sha256,
app version, applied migrations). Dev uses the embedded server's own pg_dump/pg_restore;
production uses PG_BIN_DIR or the client tools on PATH (they must be at least the server's
major version).
"""

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection, connections
from django.db.migrations.recorder import MigrationRecorder

APP = "toolkitrag"
FORMAT_VERSION = 1
DUMP, MEDIA, MANIFEST = "database.dump", "media.tar.gz", "manifest.json"
NAME_PREFIX = "toolkitrag-"


class BackupError(RuntimeError):
    """A backup or restore could not be done; the message says why, and nothing was changed."""


@dataclass
class Backup:
    path: Path
    manifest: dict

    @property
    def size(self) -> int:
        return sum(f["size"] for f in self.manifest["files"].values())


def backup_root() -> Path:
    return Path(settings.BACKUP_DIR)


def _tool(name: str) -> str:
    if settings.PG_BIN_DIR:
        candidate = Path(settings.PG_BIN_DIR) / name
        if not candidate.exists():
            raise BackupError(f"{name} not found in PG_BIN_DIR ({settings.PG_BIN_DIR}).")
        return str(candidate)
    if settings.DATABASES["default"]["ENGINE"] == "toolkitrag.embedded_db":
        from toolkitrag.embedded_db.server import POSTGRES_BIN

        return str(POSTGRES_BIN.parent / name)
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed (install the PostgreSQL client tools or set PG_BIN_DIR).")
    return found


def _connection_env() -> tuple[list[str], dict]:
    """libpq arguments and environment for the default database (password never on argv)."""
    connection.ensure_connection()
    params = connection.get_connection_params()
    env = {**os.environ}
    args = ["--dbname", params.get("dbname") or settings.DATABASES["default"]["NAME"]]
    if params.get("host"):
        args += ["--host", str(params["host"])]
    if params.get("port"):
        args += ["--port", str(params["port"])]
    if params.get("user"):
        args += ["--username", str(params["user"])]
    if params.get("password"):
        env["PGPASSWORD"] = str(params["password"])
    if params.get("sslmode"):
        env["PGSSLMODE"] = str(params["sslmode"])
    return args, env


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for piece in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(piece)
    return digest.hexdigest()


def _run(command: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(command, env=env, capture_output=True, text=True)  # noqa: S603 - fixed tools
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()
        raise BackupError(f"{Path(command[0]).name} failed: {message[-1] if message else 'no output'}")
    return result


def applied_migrations() -> dict[str, str]:
    """The latest applied migration of each app."""
    latest: dict[str, str] = {}
    for app, name in MigrationRecorder(connection).applied_migrations():
        latest[app] = max(latest.get(app, ""), name)
    return dict(sorted(latest.items()))


def app_version() -> str:
    from toolkitrag import __version__

    return __version__


def create_backup(label: str = "", root: Path | None = None) -> Backup:
    """Dump the database and archive MEDIA_ROOT into a new backup directory."""
    root = root or backup_root()
    root.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    name = NAME_PREFIX + stamp + (f"-{label}" if label else "")
    final = root / name
    suffix = 1
    while final.exists():  # two backups within one second
        final = root / f"{name}-{suffix}"
        suffix += 1
    work = Path(tempfile.mkdtemp(prefix=".incomplete-", dir=root))
    try:
        args, env = _connection_env()
        _run([_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(work / DUMP), *args], env)
        media_root = Path(settings.MEDIA_ROOT)
        with tarfile.open(work / MEDIA, "w:gz") as archive:
            if media_root.exists():
                archive.add(media_root, arcname="media")
        version = _run([_tool("pg_dump"), "--version"]).stdout.strip()
        manifest = {
            "app": APP,
            "format": FORMAT_VERSION,
            "created_at": datetime.now(UTC).isoformat(),
            "app_version": app_version(),
            "pg_dump": version,
            "database": settings.DATABASES["default"].get("NAME"),
            "migrations": applied_migrations(),
            "files": {
                filename: {"size": (work / filename).stat().st_size, "sha256": _sha256(work / filename)}
                for filename in (DUMP, MEDIA)
            },
        }
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2))
        work.rename(final)  # a backup directory only ever appears complete
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return Backup(final, manifest)


def prune_backups(retention_days: int, root: Path | None = None, keep: Path | None = None) -> list[Path]:
    """Delete backups older than retention_days (never the one just made); return what went."""
    root = root or backup_root()
    cutoff = datetime.now(UTC) - timedelta(days=retention_days)
    removed = []
    for candidate in sorted(root.glob(NAME_PREFIX + "*")):
        if candidate == keep or not (candidate / MANIFEST).exists():
            continue
        try:
            created = datetime.fromisoformat(json.loads((candidate / MANIFEST).read_text())["created_at"])
        except (ValueError, KeyError, json.JSONDecodeError):
            continue  # not ours to judge: leave it
        if created < cutoff:
            shutil.rmtree(candidate)
            removed.append(candidate)
    for stale in root.glob(".incomplete-*"):  # left by a backup that was killed
        shutil.rmtree(stale, ignore_errors=True)
    return removed


def run_post_hook(command: str, backup: Backup) -> None:
    """Run the operator's off-site upload command with the backup directory as last argument."""
    result = subprocess.run([*shlex.split(command), str(backup.path)], capture_output=True, text=True)  # noqa: S603
    if result.returncode != 0:
        raise BackupError(f"post-backup hook failed ({result.returncode}): {result.stderr.strip()[-300:]}")


def verify_backup(path: Path) -> Backup:
    """Check a backup completely without changing anything; raise BackupError saying what is wrong."""
    manifest_path = path / MANIFEST
    if not path.is_dir():
        raise BackupError(f"{path} is not a backup directory.")
    if not manifest_path.exists():
        raise BackupError(f"{path} has no {MANIFEST}: it is not a ToolkitRAG backup.")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BackupError(f"{MANIFEST} is damaged (not valid JSON).") from None
    if not isinstance(manifest, dict) or manifest.get("app") != APP:
        raise BackupError(f"{MANIFEST} does not describe a ToolkitRAG backup.")
    if manifest.get("format") != FORMAT_VERSION:
        raise BackupError(
            f"Unsupported backup format {manifest.get('format')!r} (this version reads {FORMAT_VERSION})."
        )
    for filename in (DUMP, MEDIA):
        expected = manifest.get("files", {}).get(filename)
        file_path = path / filename
        if expected is None or not file_path.exists():
            raise BackupError(f"{filename} is missing from the backup.")
        if file_path.stat().st_size != expected["size"]:
            raise BackupError(f"{filename} is truncated or altered (size differs from the manifest).")
        if _sha256(file_path) != expected["sha256"]:
            raise BackupError(f"{filename} is corrupt (checksum differs from the manifest).")
    _run([_tool("pg_restore"), "--list", str(path / DUMP)])
    try:
        with tarfile.open(path / MEDIA, "r:gz") as archive:
            for member in archive.getmembers():
                parts = Path(member.name).parts
                if member.name.startswith("/") or ".." in parts or (parts and parts[0] != "media"):
                    raise BackupError(f"media.tar.gz holds an unsafe path ({member.name}).")
                if not (member.isfile() or member.isdir()):
                    raise BackupError(f"media.tar.gz holds a link or device ({member.name}).")
    except (tarfile.TarError, EOFError, OSError):
        raise BackupError("media.tar.gz is damaged.") from None
    return Backup(path, manifest)


def restore_backup(backup: Backup) -> None:
    """Replace the database and MEDIA_ROOT with those of a backup that verify_backup returned."""
    path = backup.path
    args, env = _connection_env()
    connections.close_all()
    options = [
        "--clean",
        "--if-exists",
        "--no-owner",
        "--no-privileges",
        "--single-transaction",
        "--exit-on-error",
    ]
    _run([_tool("pg_restore"), *options, *args, str(path / DUMP)], env)
    media_root = Path(settings.MEDIA_ROOT)
    media_root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=media_root.parent))
    try:
        with tarfile.open(path / MEDIA, "r:gz") as archive:
            archive.extractall(staging, filter="data")
        restored = staging / "media"
        restored.mkdir(exist_ok=True)
        previous = media_root.with_name(media_root.name + ".before-restore")
        if previous.exists():
            shutil.rmtree(previous)
        if media_root.exists():
            media_root.rename(previous)
        restored.rename(media_root)
        shutil.rmtree(previous, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
