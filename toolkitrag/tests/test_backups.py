"""Backup → wipe → restore on the embedded PostgreSQL, and refusals that change nothing."""

import json
import shutil
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from conftest import REPO_ROOT
from rag.retrieval import retrieve
from rag.tests.conftest import ingest_toolkit
from toolkit.models import Document

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
    return sorted(p for p in backup_dir.iterdir() if p.name.startswith("toolkitrag-"))[-1]


def test_backup_wipe_restore_round_trip(fake_openai, owner, media_root, backup_dir, capsys):
    ingest_toolkit()
    before, files_before = table_fingerprints(), media_files(media_root)
    assert files_before and before["toolkit_chunks"][0] == 5

    call_command("backup")
    assert capsys.readouterr().out.startswith(f"Backup written to {backup_dir}")
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
    keyword = retrieve("How often is the budget reviewed?", 3)
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
    from toolkitrag.backups import _sha256

    manifest["files"]["database.dump"] = {"size": 10, "sha256": _sha256(backup / "database.dump")}
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
    assert Document.objects.count() == 0
