import sys
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from toolkitrag import backups

# Exit status when the restore was refused before anything changed (bad backup, wrong mode,
# cancelled): deploy/restore.sh tells this apart from a restore that failed half-way.
UNCHANGED = 3


class Command(BaseCommand):
    help = (
        "Restore the database and/or uploaded files from a backup, all or nothing: the backup is "
        "checked and a safety backup taken first, and put back if anything fails. --list shows backups."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "path", type=Path, nargs="?", help="a backup directory made by `manage.py backup`"
        )
        parser.add_argument(
            "--mode", choices=backups.MODES, default="all", help="what to restore (default all)"
        )
        parser.add_argument(
            "--list", action="store_true", help="list the backups in BACKUP_DIR, newest first"
        )
        parser.add_argument(
            "--check", action="store_true", help="only verify the backup (and mode); change nothing"
        )
        parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    def handle(self, *args, path: Path | None, mode: str, list: bool, check: bool, yes: bool, **options):
        if list:
            return self.list_backups()
        if path is None:
            raise CommandError(
                "Name a backup directory (see `manage.py restore --list`).", returncode=UNCHANGED
            )
        try:
            backup = backups.verify_backup(path)
            backups.check_mode(backup, mode)
        except backups.BackupError as error:
            raise CommandError(f"Nothing was changed: {error}", returncode=UNCHANGED) from None
        manifest = backup.manifest
        self.stdout.write(
            f"Backup {path.name}: made {manifest['created_at']} by ToolkitRAG {manifest['app_version']}, "
            f"holds {backup.mode}, {backup.size / 1024 / 1024:.1f} MB, checksums verified."
        )
        if check:
            return
        what = backups.AS_BEFORE[mode].rsplit(" ", 1)[0]  # "database and uploaded files"
        if not yes:
            if not sys.stdin.isatty():
                raise CommandError(
                    "Nothing was changed: pass --yes to restore without a prompt.", returncode=UNCHANGED
                )
            answer = input(f"This replaces the current {what}. Type 'restore' to go on: ")
            if answer.strip() != "restore":
                raise CommandError("Nothing was changed: restore cancelled.", returncode=UNCHANGED)

        def migrate() -> None:  # a backup from an older release; part of the all-or-nothing restore
            call_command("migrate", interactive=False, verbosity=0)

        try:
            safety = backups.restore(backup, mode, then=migrate)
        except backups.BackupError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Safety backup of the previous state: {safety.path}")
        what = backups.AS_BEFORE[mode].rsplit(" ", 1)[0]
        self.stdout.write(f"Restored the {what} from {path.name}; migrations are up to date.")
        if backups.DUMP in backups.FILES_OF_MODE[mode]:
            self.rebuild_keyword_indexes()

    def rebuild_keyword_indexes(self) -> None:
        # Derived data, not in backups: rebuilt from the restored chunks. Not part of the
        # all-or-nothing restore: a version without its index still answers (SQL path).
        try:
            call_command("reindex", "--keyword-only", "--all", stdout=self.stdout, stderr=self.stderr)
        except CommandError as error:
            self.stderr.write(
                f"Keyword indexes: {error} Those versions answer through the slower SQL path; "
                "retry with `manage.py reindex --keyword-only --all`."
            )

    def list_backups(self) -> None:
        found = backups.list_backups()
        if not found:
            self.stdout.write(f"No backups in {backups.backup_root()}.")
            return
        self.stdout.write(
            f"{'name':<48} {'created (UTC)':<20} {'label':<12} {'mode':<9} {'size':>10}  version  state"
        )
        for backup in found:
            manifest = backup.manifest
            # Manifest, files and sizes only: checksumming every backup to list them would read
            # gigabytes; `--check BACKUP` verifies one completely.
            try:
                if manifest.get("damaged"):
                    raise backups.BackupError(f"{backups.MANIFEST} is missing or unreadable.")
                backups.check_files(backup.path, manifest, checksums=False)
                state = "ok"
            except backups.BackupError as error:
                state = f"DAMAGED: {error}"
            created = manifest.get("created_at", "")[:19].replace("T", " ")
            size = f"{backup.size / 1024 / 1024:.1f} MB" if "files" in manifest else "?"
            self.stdout.write(
                f"{backup.path.name:<48} {created:<20} {manifest.get('label', '') or '-':<12} "
                f"{backups.backup_mode(manifest) if not manifest.get('damaged') else '?':<9} {size:>10}  "
                f"{manifest.get('app_version', '?'):<7}  {state}"
            )
