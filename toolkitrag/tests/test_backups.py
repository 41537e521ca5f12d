"""Backup → wipe → restore on the embedded PostgreSQL, and refusals that change nothing."""

import json
import os
import pwd
import re
import shutil
import subprocess
import tarfile
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from rag.retrieval import retrieve
from toolkit.access import EVERY_TOOLKIT
from toolkit.models import ToolkitVersion
from toolkitrag.backups import app_version, file_sha256
from toolkitrag.testing import REPO_ROOT
from toolkitrag.testing.filesystem import immutable
from toolkitrag.testing.toolkits import ingest_toolkit

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def backup_dir(settings, tmp_path):
    settings.BACKUP_DIR = str(tmp_path / "backups")
    return Path(settings.BACKUP_DIR)


def table_fingerprints() -> dict[str, tuple[int, str]]:
    """Row count and a content checksum for every table of the app."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
        tables = [name for (name,) in cursor.fetchall()]
        fingerprints = {}
        for table in tables:
            checksum = "md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
            cursor.execute(f'SELECT count(*), {checksum} FROM "{table}" t')  # noqa: S608 - names from pg_tables
            fingerprints[table] = cursor.fetchone()
    return fingerprints


def media_files(media_root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(media_root)): p.read_bytes() for p in media_root.rglob("*") if p.is_file()}


def latest(backup_dir: Path) -> Path:
    """The newest backup by its manifest (names made within one second do not sort by age)."""
    made = {
        p: json.loads((p / "manifest.json").read_text())["created_at"]
        for p in backup_dir.iterdir()
        if p.name.startswith("toolkitrag-")
    }
    return max(made, key=made.get)


def test_backup_wipe_restore_round_trip(fake_openai, owner, media_root, backup_dir, capsys):
    ingest_toolkit()
    before, files_before = table_fingerprints(), media_files(media_root)
    assert files_before and before["toolkit_chunks"][0] == 5

    call_command("backup")
    assert capsys.readouterr().out.startswith(f"Backup (all) written to {backup_dir}")
    backup = latest(backup_dir)
    manifest = json.loads((backup / "manifest.json").read_text())
    newest_toolkit_migration = max(p.stem for p in (REPO_ROOT / "toolkit" / "migrations").glob("0*.py"))
    assert manifest["app"] == "toolkitrag" and manifest["migrations"]["toolkit"] == newest_toolkit_migration
    assert set(manifest["files"]) == {"database.dump", "media.tar.gz"}

    call_command("flush", interactive=False)  # wipe the database ...
    shutil.rmtree(media_root)  # ... and the uploaded files
    assert table_fingerprints()["toolkit_chunks"][0] == 0

    call_command("restore", str(backup), "--yes")
    assert table_fingerprints() == before
    assert media_files(media_root) == files_before
    keyword = retrieve("How often is the budget reviewed?", 3, viewer=EVERY_TOOLKIT)
    assert keyword.mode == "hybrid" and keyword.chunks[0].heading == "1 Planning > 1.1 Budget"
    assert keyword.chunks[0].vector_rank is not None  # vectors came back too
    assert [p.name.endswith("-pre-restore") for p in backup_dir.iterdir()].count(True) == 1


def test_restore_refuses_damaged_truncated_or_foreign_backups_and_changes_nothing(
    backup_dir, media_root, tmp_path
):
    ingest_toolkit()
    call_command("backup")
    good = latest(backup_dir)
    before = table_fingerprints()

    def broken(name: str, damage) -> Path:
        copy = tmp_path / name
        shutil.copytree(good, copy)
        damage(copy)
        return copy

    def flip_byte(path: Path) -> None:
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))

    def truncate(path: Path) -> None:
        path.write_bytes(path.read_bytes()[:100])

    cases = {
        broken("corrupt", lambda p: flip_byte(p / "database.dump")): "database.dump is corrupt",
        broken("truncated", lambda p: truncate(p / "media.tar.gz")): "media.tar.gz is truncated",
        broken("foreign", lambda p: (p / "manifest.json").write_text('{"app": "something-else"}')):
            "does not describe a ToolkitRAG backup",
        broken("no-manifest", lambda p: (p / "manifest.json").unlink()): "it is not a ToolkitRAG backup",
        tmp_path / "missing": "is not a backup directory",
    }  # fmt: skip
    for path, message in cases.items():
        with pytest.raises(CommandError, match=message):
            call_command("restore", str(path), "--yes")
    assert table_fingerprints() == before
    assert [p.name.endswith("pre-restore") for p in backup_dir.iterdir()].count(True) == 0  # not even that


def test_a_dump_that_matches_its_manifest_but_is_not_a_dump_is_refused(backup_dir):
    call_command("backup")
    backup = latest(backup_dir)
    (backup / "database.dump").write_text("not a dump")
    manifest = json.loads((backup / "manifest.json").read_text())
    manifest["files"]["database.dump"] = {"size": 10, "sha256": file_sha256(backup / "database.dump")}
    (backup / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CommandError, match="pg_restore failed"):
        call_command("restore", str(backup), "--yes")


def test_restore_without_yes_and_without_a_terminal_changes_nothing(backup_dir):
    call_command("backup")
    with pytest.raises(CommandError, match="pass --yes"):
        call_command("restore", str(latest(backup_dir)))


def test_retention_removes_only_old_backups_and_the_hook_gets_the_directory(backup_dir, tmp_path):
    call_command("backup")
    old = latest(backup_dir)
    manifest = json.loads((old / "manifest.json").read_text())
    manifest["created_at"] = "2020-01-01T00:00:00+00:00"
    (old / "manifest.json").write_text(json.dumps(manifest))
    hook_log = tmp_path / "hook.log"
    call_command("backup", "--retention-days", "7", "--post-hook", f"sh -c 'echo \"$0\" > {hook_log}'")
    remaining = sorted(p.name for p in backup_dir.iterdir())
    assert old.name not in remaining and len(remaining) == 1
    assert hook_log.read_text().strip() == str(backup_dir / remaining[0])
    assert ToolkitVersion.objects.count() == 0


# --- modes, schedule, retention ---------------------------------------------------------------


def manifest_of(path: Path) -> dict:
    return json.loads((path / "manifest.json").read_text())


def set_created(path: Path, when: datetime) -> None:
    manifest = manifest_of(path)
    manifest["created_at"] = when.isoformat()
    (path / "manifest.json").write_text(json.dumps(manifest))


def test_backup_modes_hold_what_they_say_and_record_mode_and_label(backup_dir):
    call_command("backup", "--mode", "database", "--label", "scheduled")
    database_only = latest(backup_dir)
    assert database_only.name.endswith("-scheduled")
    manifest = manifest_of(database_only)
    assert (manifest["mode"], manifest["label"]) == ("database", "scheduled")
    assert set(manifest["files"]) == {"database.dump"} and not (database_only / "media.tar.gz").exists()
    datetime.fromisoformat(manifest["created_at"])

    call_command("backup", "--mode", "files", "--label", "weekly")
    files_only = latest(backup_dir)
    assert manifest_of(files_only)["mode"] == "files"
    assert set(manifest_of(files_only)["files"]) == {"media.tar.gz"}
    for backup in (database_only, files_only):
        call_command("restore", str(backup), "--mode", manifest_of(backup)["mode"], "--check")


def test_auto_mode_adds_the_uploaded_files_every_interval_days(backup_dir, settings):
    settings.BACKUP_FILES_INTERVAL_DAYS = 7
    call_command("backup", "--mode", "auto", "--label", "scheduled")
    first = latest(backup_dir)
    assert manifest_of(first)["mode"] == "all"  # no backup of the files yet
    call_command("backup", "--mode", "auto", "--label", "scheduled")
    assert manifest_of(latest(backup_dir))["mode"] == "database"
    set_created(first, datetime.now(UTC) - timedelta(days=6))
    call_command("backup", "--mode", "auto", "--label", "scheduled")
    assert manifest_of(latest(backup_dir))["mode"] == "database"
    set_created(first, datetime.now(UTC) - timedelta(days=7))  # seven calendar days: the files again
    call_command("backup", "--mode", "auto", "--label", "scheduled")
    assert manifest_of(latest(backup_dir))["mode"] == "all"


def test_retention_never_removes_the_newest_backup_of_the_files(backup_dir):
    call_command("backup", "--mode", "all")
    with_files = latest(backup_dir)
    call_command("backup", "--mode", "database", "--label", "a")
    old_database = latest(backup_dir)
    for path in (with_files, old_database):
        set_created(path, datetime(2020, 1, 1, tzinfo=UTC))
    call_command("backup", "--mode", "database", "--retention-days", "7", "--post-hook", "")
    remaining = {p.name for p in backup_dir.iterdir()}
    assert with_files.name in remaining  # past retention, but the only copy of the files
    assert old_database.name not in remaining and len(remaining) == 2


# --- restore modes and listing ---------------------------------------------------------------


def test_restore_modes_replace_only_their_part(backup_dir, media_root):
    ingest_toolkit()
    call_command("backup")
    backup = latest(backup_dir)
    before, files_before = table_fingerprints(), media_files(media_root)

    ingest_toolkit(version="v2")  # the database changes, and a second upload arrives
    changed, files_changed = table_fingerprints(), media_files(media_root)
    assert changed != before and len(files_changed) == len(files_before) + 1

    call_command("restore", str(backup), "--mode", "database", "--yes")
    assert table_fingerprints() == before
    assert media_files(media_root) == files_changed  # files untouched

    call_command("restore", str(backup), "--mode", "files", "--yes")
    assert media_files(media_root) == files_before
    assert table_fingerprints() == before


def test_restoring_files_from_a_database_only_backup_is_refused_naming_one_that_has_them(backup_dir):
    call_command("backup", "--mode", "all", "--label", "weekly")
    with_files = latest(backup_dir)
    call_command("backup", "--mode", "database", "--label", "scheduled")
    database_only = latest(backup_dir)
    for mode in ("files", "all"):
        with pytest.raises(CommandError) as refused:
            call_command("restore", str(database_only), "--mode", mode, "--yes")
        message = str(refused.value)
        assert message.startswith("Nothing was changed") and "database-only backup" in message
        assert f"The newest backup that does: {with_files}" in message
    assert not any(p.name.endswith("-pre-restore") for p in backup_dir.iterdir())


def test_restore_list_shows_backups_newest_first_and_marks_damaged_ones(backup_dir, capsys):
    call_command("backup", "--mode", "all", "--label", "weekly")
    older = latest(backup_dir)
    set_created(older, datetime.now(UTC) - timedelta(days=1))
    call_command("backup", "--mode", "database", "--label", "scheduled")
    newer = latest(backup_dir)
    call_command("backup", "--label", "broken")
    damaged = latest(backup_dir)
    set_created(damaged, datetime.now(UTC) - timedelta(days=2))
    (damaged / "media.tar.gz").write_bytes(b"not what the manifest says")
    capsys.readouterr()

    call_command("restore", "--list")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:5] == ["name", "created", "(UTC)", "label", "mode"]
    rows = lines[1:]
    assert [row.split()[0] for row in rows] == [newer.name, older.name, damaged.name]
    assert rows[0].split()[3:5] == ["scheduled", "database"] and rows[0].endswith("ok")
    assert rows[1].split()[3:5] == ["weekly", "all"] and app_version() in rows[1]
    assert "DAMAGED: media.tar.gz is truncated" in rows[2]


# --- all or nothing ---------------------------------------------------------------------------


def forget_migration(app: str, name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_migrations WHERE app = %s AND name = %s", [app, name])


def test_a_failure_after_the_database_is_replaced_puts_the_safety_backup_back(backup_dir, media_root):
    """The backup's migration history is inconsistent, so `migrate` fails after database and files
    were replaced: both come back exactly as they were."""
    ingest_toolkit()
    forget_migration("toolkit", "0001_vector_extension")  # later toolkit migrations stay applied
    call_command("backup", "--label", "inconsistent")
    backup = latest(backup_dir)
    with connection.cursor() as cursor:  # the current state is sound again...
        cursor.execute(
            "INSERT INTO django_migrations (app, name, applied) VALUES (%s, %s, now())",
            ["toolkit", "0001_vector_extension"],
        )
    ingest_toolkit(version="v2")  # ... and differs from the backup in both database and files
    before, files_before = table_fingerprints(), media_files(media_root)

    with pytest.raises(CommandError) as failed:
        call_command("restore", str(backup), "--yes")
    message = str(failed.value)
    assert message.startswith("Restore failed") and "is applied before its dependency" in message
    assert "was put back: the database and uploaded files are as before the restore" in message
    assert table_fingerprints() == before
    assert media_files(media_root) == files_before
    leftovers = {p.name for p in media_root.parent.iterdir()} - {"media", "backups", "keyword-index"}
    assert leftovers == set(), leftovers  # no staging folder, no media.before-restore


def test_a_media_swap_that_fails_after_the_database_is_replaced_puts_it_back(backup_dir, media_root):
    """A real failure of the media rename: MEDIA_ROOT is immutable (chattr +i), which even root
    cannot rename, while its parent stays writable for the staging folder."""
    ingest_toolkit()
    call_command("backup")
    backup = latest(backup_dir)
    ingest_toolkit(version="v2")
    before, files_before = table_fingerprints(), media_files(media_root)
    with immutable(media_root), pytest.raises(CommandError) as failed:
        call_command("restore", str(backup), "--yes")
    message = str(failed.value)
    assert "Operation not permitted" in message
    assert "was put back: the database and uploaded files are as before the restore" in message
    assert table_fingerprints() == before
    assert media_files(media_root) == files_before


def test_when_the_safety_backup_cannot_be_made_nothing_changes(backup_dir, media_root):
    """BACKUP_DIR immutable (chattr +i, which binds root too): the files are already unpacked in
    staging, the safety backup fails, and the restore stops there."""
    ingest_toolkit()
    call_command("backup")
    backup = latest(backup_dir)
    ingest_toolkit(version="v2")
    before, files_before = table_fingerprints(), media_files(media_root)
    with immutable(backup_dir), pytest.raises(CommandError, match="Nothing was changed: the safety backup"):
        call_command("restore", str(backup), "--yes")
    assert table_fingerprints() == before and media_files(media_root) == files_before
    beside_media = {p.name for p in media_root.parent.iterdir()} - {"keyword-index"}
    assert beside_media == {"media", "backups"}  # staging removed


def test_unpacking_does_not_need_extractall_filter(backup_dir, media_root, monkeypatch):
    """Python 3.11.0-3.11.3 have no extractall(filter=...); the restore must not call extractall."""
    ingest_toolkit()
    files_before = media_files(media_root)
    call_command("backup")

    def refuse(*args, **kwargs):
        raise AssertionError("extractall is not safe without filter= on Python < 3.11.4")

    monkeypatch.setattr(tarfile.TarFile, "extractall", refuse)
    shutil.rmtree(media_root)
    call_command("restore", str(latest(backup_dir)), "--mode", "files", "--yes")
    assert media_files(media_root) == files_before


def test_an_archive_with_a_link_is_refused_before_anything_changes(backup_dir, media_root, tmp_path):
    ingest_toolkit()
    call_command("backup")
    backup = latest(backup_dir)
    files_before = media_files(media_root)
    archive = backup / "media.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        link = tarfile.TarInfo("media/escape")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc"
        tar.addfile(link)
    manifest = manifest_of(backup)
    manifest["files"]["media.tar.gz"] = {"size": archive.stat().st_size, "sha256": file_sha256(archive)}
    (backup / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CommandError, match="Nothing was changed: media.tar.gz holds a link or device"):
        call_command("restore", str(backup), "--yes")
    assert media_files(media_root) == files_before


# --- the configuration archive and the backup service -----------------------------------------


def test_backup_files_sh_runs_as_an_unprivileged_user_and_sends_the_archive_to_the_hook():
    """backup-files.sh as the service user would run it: a non-root user (nobody) that reads the
    env file through its group (root:GROUP 640) and writes only the backups folder."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run the script as another user")
    nobody = pwd.getpwnam("nobody")
    base = Path(tempfile.mkdtemp(prefix="toolkitrag-config-backup-"))  # not under pytest's 0700 tmp
    try:
        base.chmod(0o755)
        etc = base / "etc" / "toolkitrag"
        etc.mkdir(parents=True)
        (base / "etc").chmod(0o755)
        env_file = etc / "toolkitrag.env"
        env_file.write_text("SECRET_KEY=s3cret\nBACKUP_POST_HOOK=cp -t offsite\n")
        for path, mode in ((etc, 0o750), (env_file, 0o640)):
            os.chown(path, 0, nobody.pw_gid)
            path.chmod(mode)
        proxy = base / "etc" / "Caddyfile"
        proxy.write_text("toolkit.example.org {}\n")
        backups_dir, offsite = base / "backups", base / "offsite"
        for folder in (backups_dir, offsite):
            folder.mkdir()
            os.chown(folder, nobody.pw_uid, nobody.pw_gid)
        env = {
            "PATH": os.environ["PATH"],
            "TOOLKITRAG_ENV_FILE": str(env_file),
            "BACKUP_DIR": str(backups_dir),
            "CONFIG_PATHS": f"{etc} {proxy} {base}/etc/nginx/conf.d/missing.conf",
        }
        result = subprocess.run(
            ["runuser", "-u", "nobody", "--", str(REPO_ROOT / "deploy" / "backup-files.sh")],
            cwd=base,
            env=env,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Post-backup hook ran" in result.stdout
        (archive,) = backups_dir.glob("config-*.tar.gz")
        assert archive.stat().st_mode & 0o777 == 0o600
        (copy,) = offsite.iterdir()
        assert copy.name == archive.name and copy.read_bytes() == archive.read_bytes()
        with tarfile.open(copy) as tar:
            names = tar.getnames()
            env_member = str(env_file.relative_to("/"))
            assert env_member in names and str(proxy.relative_to("/")) in names
            assert b"SECRET_KEY=s3cret" in tar.extractfile(env_member).read()

        env_file.chmod(0o600)  # a secret the service user cannot read: the backup fails, loudly
        failed = subprocess.run(
            ["runuser", "-u", "nobody", "--", str(REPO_ROOT / "deploy" / "backup-files.sh")],
            cwd=base,
            env={**env, "BACKUP_POST_HOOK": ""},
            capture_output=True,
            text=True,
        )
        assert failed.returncode != 0 and "Permission denied" in failed.stderr
        assert len(list(backups_dir.glob("config-*.tar.gz"))) == 1  # the first one, untouched
        assert not list(backups_dir.glob(".config-incomplete-*"))  # no half archive left
    finally:
        shutil.rmtree(base)


def test_backup_service_runs_as_the_app_user_in_a_sandbox_rated_ok():
    unit = REPO_ROOT / "deploy" / "toolkitrag-backup.service"
    assert "\nUser=toolkitrag\n" in unit.read_text()
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(unit)], capture_output=True, text=True
    )
    rating = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\w+)", result.stdout)
    assert rating, result.stdout + result.stderr
    assert float(rating[1]) <= 4.0 and rating[2] == "OK", rating[0]
