import sys
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from toolkitrag import backups


class Command(BaseCommand):
    help = (
        "Restore the database and uploaded files from a backup, after checking it and taking a safety backup."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help="a backup directory made by `manage.py backup`")
        parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    def handle(self, *args, path: Path, yes: bool, **options):
        try:
            backup = backups.verify_backup(path)
        except backups.BackupError as error:
            raise CommandError(f"Nothing was changed: {error}") from None
        manifest = backup.manifest
        self.stdout.write(
            f"Backup {path.name}: made {manifest['created_at']} by ToolkitRAG {manifest['app_version']}, "
            f"{backup.size / 1024 / 1024:.1f} MB, checksums verified."
        )
        if not yes:
            if not sys.stdin.isatty():
                raise CommandError("Nothing was changed: pass --yes to restore without a prompt.")
            answer = input("This replaces the current database and uploaded files. Type 'restore' to go on: ")
            if answer.strip() != "restore":
                raise CommandError("Nothing was changed: restore cancelled.")
        try:
            safety = backups.create_backup("pre-restore")
            self.stdout.write(f"Safety backup of the current state: {safety.path}")
            backups.restore_backup(backup)
        except backups.BackupError as error:
            raise CommandError(str(error)) from None
        call_command("migrate", interactive=False, verbosity=0)  # a backup from an older release
        self.stdout.write(f"Restored {path.name}; migrations are up to date.")
