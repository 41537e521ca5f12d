from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from toolkitrag import backups


class Command(BaseCommand):
    help = "Back up the database (pg_dump) and/or uploaded files, with a manifest; prune old backups."

    def add_arguments(self, parser):
        parser.add_argument("--label", default="", help="appended to the backup's name, e.g. pre-upgrade")
        parser.add_argument(
            "--mode",
            choices=[*backups.MODES, "auto"],
            default="all",
            help="what to back up (default all); auto: the database, plus the uploaded files when the "
            "newest backup of them is BACKUP_FILES_INTERVAL_DAYS old (what the timer runs)",
        )
        parser.add_argument("--retention-days", type=int, default=None, help="default: BACKUP_RETENTION_DAYS")
        parser.add_argument("--post-hook", default=None, help="default: BACKUP_POST_HOOK")

    def handle(
        self, *args, label: str, mode: str, retention_days: int | None, post_hook: str | None, **options
    ):
        retention = settings.BACKUP_RETENTION_DAYS if retention_days is None else retention_days
        if retention < 1:
            raise CommandError("--retention-days must be at least 1.")
        if label and not label.replace("-", "").isalnum():
            raise CommandError("--label may hold letters, digits and dashes only.")
        try:
            if mode == "auto":
                mode = backups.resolve_auto_mode()
            backup = backups.create_backup(label, mode=mode)
            removed = backups.prune_backups(retention, keep=backup.path)
            hook = settings.BACKUP_POST_HOOK if post_hook is None else post_hook
            if hook:
                backups.run_post_hook(hook, backup.path)
        except backups.BackupError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            f"Backup ({mode}) written to {backup.path} ({backup.size / 1024 / 1024:.1f} MB); "
            f"{len(removed)} backup(s) older than {retention} days removed"
            f"{'; post-backup hook ran' if hook else ''}."
        )
