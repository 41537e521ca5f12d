from django.core.management.base import BaseCommand

from rag import golden
from toolkit import tasks


class Command(BaseCommand):
    help = (
        "Queue again (or fail, with the reason) toolkit versions left processing by a worker that died; "
        "fail golden runs it left running."
    )

    def handle(self, *args, **options) -> None:
        requeued, failed = tasks.recover_abandoned_runs()
        self.stdout.write(f"Abandoned ingestion runs: {requeued} queued again, {failed} marked failed.")
        self.stdout.write(f"Abandoned golden runs marked failed: {golden.fail_abandoned_runs()}.")
