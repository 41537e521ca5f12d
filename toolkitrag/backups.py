"""Backups and restores: a pg_dump of the database and/or an archive of uploaded files, with a
manifest that lets a restore check everything before it touches anything.

A backup is one directory, `<BACKUP_DIR>/toolkitrag-YYYYmmdd-HHMMSS[-label]/`, holding
`manifest.json` (mode, label, sizes, sha256, app version, applied migrations) and, by mode,
`database.dump` (pg_dump custom format) and/or `media.tar.gz`. Dev uses the embedded server's
own client tools; production uses PG_BIN_DIR or the client tools on PATH (they must be at least
the server's major version).

A restore is all-or-nothing: the backup is verified and its uploaded files are unpacked into a
staging folder before anything changes; then a safety backup of the current state is taken;
then database and files are replaced. Any failure after that puts the safety backup back.

The database is restored as the app's own role, which need not be a superuser: the extension
(`vector`, created once by a superuser, DEPLOY.md §3) is left alone, and the app's tables are
dropped and recreated in one transaction.
"""

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
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
MODES = ("database", "files", "all")
FILES_OF_MODE = {"database": (DUMP,), "files": (MEDIA,), "all": (DUMP, MEDIA)}
SAFETY_LABEL = "pre-restore"
AS_BEFORE = {  # what a failed restore of each mode has put back
    "database": "database is",
    "files": "uploaded files are",
    "all": "database and uploaded files are",
}

# Entries of the dump's table of contents a restore skips: extensions and their comments belong
# to the superuser who created them (`pg_restore --list` lines such as
# "3; 3079 16385 EXTENSION - vector" and "4; 0 0 COMMENT - EXTENSION vector").
SKIPPED_TOC_ENTRY = re.compile(r"^\s*\d+;\s+\d+\s+\d+\s+(EXTENSION|COMMENT - EXTENSION)\s")

# Run in the restore's transaction before the dump's own statements: drop every table, view and
# sequence of the public schema that no extension owns, so that what remains is exactly the
# backup (a table added by a later migration would otherwise survive and break `migrate`).
DROP_APP_OBJECTS = """
DO $drop$
DECLARE
  item record;
BEGIN
  FOR item IN
    SELECT n.nspname, c.relname,
           CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                          WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END AS kind
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
       AND NOT EXISTS (SELECT 1 FROM pg_depend d
                        WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
  LOOP
    EXECUTE format('DROP %s IF EXISTS %I.%I CASCADE', item.kind, item.nspname, item.relname);
  END LOOP;
  -- Sequences left once the tables (and the sequences they own) are gone.
  FOR item IN
    SELECT n.nspname, c.relname
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind = 'S'
       AND NOT EXISTS (SELECT 1 FROM pg_depend d
                        WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
  LOOP
    EXECUTE format('DROP SEQUENCE IF EXISTS %I.%I CASCADE', item.nspname, item.relname);
  END LOOP;
END
$drop$;
"""


class BackupError(RuntimeError):
    """A backup or restore could not be done; the message says why and what state things are in."""


@dataclass
class Backup:
    path: Path
    manifest: dict

    @property
    def size(self) -> int:
        return sum(f["size"] for f in self.manifest["files"].values())

    @property
    def mode(self) -> str:
        return backup_mode(self.manifest)

    @property
    def label(self) -> str:
        return self.manifest.get("label", "")


def backup_mode(manifest: dict) -> str:
    """What a backup holds; backups made before modes existed hold both."""
    return manifest.get("mode", "all")


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
    for option, variable in (("sslmode", "PGSSLMODE"), ("sslrootcert", "PGSSLROOTCERT")):
        if params.get(option):
            env[variable] = str(params[option])
    return args, env


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for piece in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(piece)
    return digest.hexdigest()


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    errors = [line for line in lines if "ERROR" in line or "error" in line]
    return (errors or lines or ["no output"])[-1].strip()


def _run(command: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(command, env=env, capture_output=True, text=True)  # noqa: S603 - fixed tools
    if result.returncode != 0:
        raise BackupError(f"{Path(command[0]).name} failed: {_last_line(result.stderr or result.stdout)}")
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


# --- making backups ---------------------------------------------------------------------------


def list_backups(root: Path | None = None) -> list[Backup]:
    """Complete backups under root whose manifest can be read, newest first (not verified)."""
    root = root or backup_root()
    found = []
    for path in root.glob(NAME_PREFIX + "*") if root.is_dir() else ():
        try:
            manifest = json.loads((path / MANIFEST).read_text())
            datetime.fromisoformat(manifest["created_at"])
        except (OSError, ValueError, KeyError, TypeError):
            manifest = {"created_at": "", "damaged": True}
        found.append(Backup(path, manifest))
    return sorted(found, key=lambda b: (b.manifest["created_at"], b.path.name), reverse=True)


def resolve_auto_mode(root: Path | None = None, today: datetime | None = None) -> str:
    """`--mode auto`: the database always, the uploaded files too every BACKUP_FILES_INTERVAL_DAYS.

    Counted in calendar days (UTC) since the newest backup holding files, so a timer whose start
    wanders by a few minutes still backs them up on the same weekday, and a missed day (server
    off) is caught up by the next run instead of waiting a week.
    """
    today = (today or datetime.now(UTC)).date()
    for backup in list_backups(root):
        if backup.manifest.get("damaged") or backup_mode(backup.manifest) == "database":
            continue
        made = datetime.fromisoformat(backup.manifest["created_at"]).astimezone(UTC).date()
        return "all" if (today - made).days >= settings.BACKUP_FILES_INTERVAL_DAYS else "database"
    return "all"


def create_backup(label: str = "", root: Path | None = None, mode: str = "all") -> Backup:
    """Dump the database and/or archive MEDIA_ROOT (by mode) into a new backup directory."""
    if mode not in MODES:
        raise BackupError(f"Unknown backup mode {mode!r}: use one of {', '.join(MODES)}.")
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
        manifest = {
            "app": APP,
            "format": FORMAT_VERSION,
            "created_at": datetime.now(UTC).isoformat(),
            "label": label,
            "mode": mode,
            "app_version": app_version(),
            "database": settings.DATABASES["default"].get("NAME"),
            "migrations": applied_migrations(),
        }
        if DUMP in FILES_OF_MODE[mode]:
            args, env = _connection_env()
            _run([_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(work / DUMP), *args], env)
            manifest["pg_dump"] = _run([_tool("pg_dump"), "--version"]).stdout.strip()
        if MEDIA in FILES_OF_MODE[mode]:
            media_root = Path(settings.MEDIA_ROOT)
            with tarfile.open(work / MEDIA, "w:gz") as archive:
                if media_root.exists():
                    archive.add(media_root, arcname="media")
        manifest["files"] = {
            filename: {"size": (work / filename).stat().st_size, "sha256": file_sha256(work / filename)}
            for filename in FILES_OF_MODE[mode]
        }
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2))
        work.rename(final)  # a backup directory only ever appears complete
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return Backup(final, manifest)


def prune_backups(retention_days: int, root: Path | None = None, keep: Path | None = None) -> list[Path]:
    """Delete backups older than retention_days; return what went.

    Never removed: `keep` (the backup just made), and the newest backup holding the database and
    the newest holding the uploaded files, so a retention shorter than the files' interval never
    leaves no copy of them.
    """
    root = root or backup_root()
    cutoff = datetime.now(UTC) - timedelta(days=retention_days)
    readable = [b for b in list_backups(root) if not b.manifest.get("damaged")]  # others: not ours to judge
    newest_of_each = {
        next((b.path for b in readable if filename in FILES_OF_MODE[backup_mode(b.manifest)]), None)
        for filename in (DUMP, MEDIA)
    }
    removed = []
    for backup in readable:
        if backup.path == keep or backup.path in newest_of_each:
            continue
        if datetime.fromisoformat(backup.manifest["created_at"]) < cutoff:
            shutil.rmtree(backup.path)
            removed.append(backup.path)
    for stale in root.glob(".incomplete-*"):  # left by a backup that was killed
        shutil.rmtree(stale, ignore_errors=True)
    return removed


def run_post_hook(command: str, path: Path) -> None:
    """Run the operator's off-site upload command with `path` (a backup) as last argument."""
    result = subprocess.run([*shlex.split(command), str(path)], capture_output=True, text=True)  # noqa: S603
    if result.returncode != 0:
        raise BackupError(f"post-backup hook failed ({result.returncode}): {result.stderr.strip()[-300:]}")


# --- checking backups -------------------------------------------------------------------------


def _check_member(member: tarfile.TarInfo) -> None:
    """Refuse anything but plain files and folders under media/ (our own archives hold nothing else)."""
    parts = Path(member.name).parts
    if member.name.startswith("/") or ".." in parts or not parts or parts[0] != "media":
        raise BackupError(f"media.tar.gz holds an unsafe path ({member.name}).")
    if not (member.isfile() or member.isdir()):
        raise BackupError(f"media.tar.gz holds a link or device ({member.name}).")


def check_files(path: Path, manifest: dict, *, checksums: bool = True) -> None:
    """The files a backup's mode holds are there with the manifest's sizes (and sha256)."""
    for filename in FILES_OF_MODE[backup_mode(manifest)]:
        expected = (manifest.get("files") or {}).get(filename)
        file_path = path / filename
        if expected is None or not file_path.exists():
            raise BackupError(f"{filename} is missing from the backup.")
        if file_path.stat().st_size != expected["size"]:
            raise BackupError(f"{filename} is truncated or altered (size differs from the manifest).")
        if checksums and file_sha256(file_path) != expected["sha256"]:
            raise BackupError(f"{filename} is corrupt (checksum differs from the manifest).")


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
    mode = backup_mode(manifest)
    if mode not in MODES:
        raise BackupError(f"{MANIFEST} names an unknown mode {mode!r}.")
    check_files(path, manifest)
    if DUMP in FILES_OF_MODE[mode]:
        _run([_tool("pg_restore"), "--list", str(path / DUMP)])
    if MEDIA in FILES_OF_MODE[mode]:
        try:
            with tarfile.open(path / MEDIA, "r:gz") as archive:
                for member in archive.getmembers():
                    _check_member(member)
        except (tarfile.TarError, EOFError, OSError):
            raise BackupError("media.tar.gz is damaged.") from None
    return Backup(path, manifest)


def check_mode(backup: Backup, mode: str, root: Path | None = None) -> None:
    """Refuse to restore from a backup what it does not hold, naming one that does."""
    if mode not in MODES:
        raise BackupError(f"Unknown restore mode {mode!r}: use one of {', '.join(MODES)}.")
    missing = set(FILES_OF_MODE[mode]) - set(FILES_OF_MODE[backup.mode])
    if not missing:
        return
    what = "the uploaded files" if MEDIA in missing else "the database"
    holding = [
        b
        for b in list_backups(root or backup.path.parent)
        if not b.manifest.get("damaged") and set(FILES_OF_MODE[mode]) <= set(FILES_OF_MODE[b.mode])
    ]
    hint = f" The newest backup that does: {holding[0].path}." if holding else ""
    raise BackupError(
        f"{backup.path.name} is a {backup.mode}-only backup: it does not hold {what}, so --mode {mode} "
        f"cannot restore from it. Use --mode {backup.mode}, or pick another backup.{hint}"
    )


# --- restoring --------------------------------------------------------------------------------


def _restore_database(dump: Path) -> None:
    """Replace the app's tables with those of `dump`, in one transaction, as the app's own role.

    pg_restore only turns the dump into SQL (no --clean: it would DROP EXTENSION, which only
    the extension's owner may do); psql runs DROP_APP_OBJECTS and that SQL with
    --single-transaction and ON_ERROR_STOP, so any error leaves the database as it was. Only
    options that PostgreSQL 15's client tools already have are used.
    """
    listing = _run([_tool("pg_restore"), "--list", str(dump)]).stdout
    kept = [line for line in listing.splitlines() if not SKIPPED_TOC_ENTRY.match(line)]
    args, env = _connection_env()
    env["PGOPTIONS"] = (env.get("PGOPTIONS", "") + " -c client_min_messages=warning").strip()
    connections.close_all()  # our own idle connections must not hold locks the DROPs wait for
    with tempfile.TemporaryDirectory(prefix="toolkitrag-restore-") as scratch:
        toc, header = Path(scratch) / "toc.list", Path(scratch) / "drop.sql"
        toc.write_text("\n".join(kept) + "\n")
        header.write_text(DROP_APP_OBJECTS)
        with (Path(scratch) / "pg_restore.err").open("w+") as script_errors:  # a file: no pipe to fill
            script = subprocess.Popen(  # noqa: S603 - fixed tools
                [_tool("pg_restore"), "--no-owner", "--no-privileges", "--use-list", str(toc)]
                + ["--file", "-", str(dump)],
                stdout=subprocess.PIPE,
                stderr=script_errors,
            )
            psql = subprocess.run(  # noqa: S603
                [_tool("psql"), "--no-psqlrc", "--quiet", "--single-transaction", "--set", "ON_ERROR_STOP=1"]
                + ["--file", str(header), "--file", "-", *args],
                stdin=script.stdout,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=env,
                text=True,
            )
            script.stdout.close()
            script.wait()
            script_errors.seek(0)
            script_message = script_errors.read()
    # psql first: when it stops at an error, pg_restore then fails too, on the closed pipe.
    if psql.returncode != 0:
        raise BackupError(
            f"restoring the database failed: {_last_line(psql.stderr)} (the database was not changed)"
        )
    if script.returncode != 0:
        raise BackupError(f"pg_restore failed: {_last_line(script_message)} (the database was not changed)")


def _unpack_media(archive_path: Path, staging: Path) -> Path:
    """Unpack media.tar.gz into staging, member by member, and return the unpacked media folder.

    Done by hand rather than with extractall(filter="data"), which Python 3.11.0-3.11.3 lack:
    every member is checked (plain files and folders under media/ only) and written with fresh
    permissions, and each file's size is compared with the archive's.
    """
    try:
        with tarfile.open(archive_path, "r:gz") as archive:
            for member in archive:
                _check_member(member)
                target = staging.joinpath(*Path(member.name).parts)
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                source = archive.extractfile(member)
                with source, target.open("xb") as out:  # "x": a duplicate member is an error
                    shutil.copyfileobj(source, out)
                if target.stat().st_size != member.size:
                    raise BackupError(f"media.tar.gz: {member.name} unpacked to the wrong size.")
    except (tarfile.TarError, EOFError) as error:
        raise BackupError(f"media.tar.gz could not be unpacked: {error}.") from None
    except OSError as error:
        raise BackupError(f"media.tar.gz could not be unpacked into {staging}: {error}.") from None
    unpacked = staging / "media"
    unpacked.mkdir(exist_ok=True)  # a backup of an empty site has no media folder
    return unpacked


@dataclass
class _MediaSwap:
    """Where the uploaded files are during a restore, so that a failure can put them back."""

    media_root: Path
    aside: Path
    moved_aside: bool = False
    replaced: bool = False

    def replace_with(self, unpacked: Path) -> None:
        if self.aside.exists():  # left by a restore that was killed: the safety backup has it
            shutil.rmtree(self.aside)
        if self.media_root.exists():
            self.media_root.rename(self.aside)
            self.moved_aside = True
        unpacked.rename(self.media_root)
        self.replaced = True

    def put_back(self) -> None:
        if self.replaced:
            shutil.rmtree(self.media_root)
        if self.moved_aside:
            self.aside.rename(self.media_root)

    def finish(self) -> None:
        shutil.rmtree(self.aside, ignore_errors=True)


def restore(backup: Backup, mode: str = "all", then: Callable[[], None] | None = None) -> Backup:
    """Restore `mode` from a verified backup, all or nothing; return the safety backup.

    `then` (e.g. running migrations) is part of the restore: if it fails, everything is put
    back as well. Raises BackupError saying what happened and in which state things are.
    """
    check_mode(backup, mode)
    with_database, with_files = DUMP in FILES_OF_MODE[mode], MEDIA in FILES_OF_MODE[mode]
    media_root = Path(settings.MEDIA_ROOT)
    staging = None
    try:
        try:
            if with_files:  # unpacked next to MEDIA_ROOT, so that swapping them is a rename
                try:
                    media_root.parent.mkdir(parents=True, exist_ok=True)
                    staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=media_root.parent))
                except OSError as error:
                    raise BackupError(
                        f"cannot unpack the uploaded files next to {media_root}: {error}"
                    ) from None
                unpacked = _unpack_media(backup.path / MEDIA, staging)
            safety = create_backup(SAFETY_LABEL, mode=mode)
        except (BackupError, OSError, tarfile.TarError) as error:
            what = "" if isinstance(error, BackupError) else "the safety backup could not be made: "
            raise BackupError(f"Nothing was changed: {what}{error}") from None
        swap = _MediaSwap(media_root, media_root.with_name(media_root.name + ".before-restore"))
        database_replaced = False
        try:
            if with_database:
                _restore_database(backup.path / DUMP)  # one transaction: replaced, or unchanged
                database_replaced = True
            if with_files:
                swap.replace_with(unpacked)
            if then is not None:
                then()
        except BaseException as error:
            _put_back(safety, mode, swap, database_replaced, error)
            raise BackupError(
                f"Restore failed: {error}. The safety backup {safety.path} was put back: "
                f"the {AS_BEFORE[mode]} as before the restore."
            ) from error
        swap.finish()
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    return safety


def _put_back(
    safety: Backup, mode: str, swap: _MediaSwap, database_replaced: bool, cause: BaseException
) -> None:
    try:
        swap.put_back()
        if database_replaced:
            _restore_database(safety.path / DUMP)
    except Exception as error:
        raise BackupError(
            f"Restore failed: {cause}. Putting the safety backup back ALSO failed: {error}. "
            "Keep the services stopped and restore it by hand: "
            f"manage.py restore {safety.path} --mode {mode} --yes"
        ) from error
