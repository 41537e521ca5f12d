"""Running ingestion: the django-tasks task (a database queue in production, processed by
`manage.py db_worker`; run at once in dev and tests), the advisory lock a run holds, and the
recovery of runs whose worker died. The pipeline itself is toolkit.ingestion."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django_tasks import task

from toolkit import ingestion
from toolkit.models import ToolkitVersion

logger = logging.getLogger(__name__)

# Advisory-lock namespace: a worker holds (INGESTION_LOCK, version id) on its database session
# for the whole run. PostgreSQL drops the lock with the session, so a version that is
# `processing` while nobody holds its lock was abandoned by a worker that died (SIGKILL, OOM).
INGESTION_LOCK = 0x746B  # "tk"
AUTOMATIC_RETRIES = 1


def _try_lock(version_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [INGESTION_LOCK, version_id])
        return cursor.fetchone()[0]


def _unlock(version_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [INGESTION_LOCK, version_id])


def ingest_locked(
    version: ToolkitVersion, on_progress: ingestion.Progress = lambda done, total: None
) -> ToolkitVersion:
    """Run the pipeline on one version while holding its lock; skip it if another worker has it."""
    if not _try_lock(version.pk):
        logger.info("version %s is being ingested by another worker; skipped", version.pk)
        version.refresh_from_db()
        return version
    try:
        return ingestion.ingest(version, on_progress)
    finally:
        _unlock(version.pk)


@task()
def ingest_document(document_id: int, embeddings_only: bool = False) -> str:
    # The task's name and arguments stay as they were: queued rows may outlive a deploy.
    version = ToolkitVersion.objects.filter(pk=document_id).first()
    if version is None:
        return "deleted before it could be processed"
    if embeddings_only and version.status == ToolkitVersion.Status.READY:
        version = ingestion.reembed(version)
        trigger = "re-embedded"
    else:
        version = ingest_locked(version)
        trigger = "ingested"
    if version.status == ToolkitVersion.Status.READY and not version.error:
        # Before it answers anyone: its golden questions (if the toolkit has any) run next.
        from rag.tasks import enqueue_golden_run  # rag builds on toolkit: imported where used

        enqueue_golden_run(version, trigger)
    return version.status


def enqueue_ingestion(
    version: ToolkitVersion, embeddings_only: bool = False, automatic: bool = False
) -> None:
    """Queue ingestion once the surrounding transaction (which created the row) commits.
    `automatic`: a retry of an abandoned run, which counts against its automatic retries."""
    if not embeddings_only:
        fields = {"status": ToolkitVersion.Status.PENDING, "error": ""}
        ToolkitVersion.objects.filter(pk=version.pk).update(
            **fields, **({} if automatic else {"attempts": 0})
        )
    transaction.on_commit(lambda: ingest_document.enqueue(version.pk, embeddings_only))


def recover_abandoned_runs() -> tuple[int, int]:
    """Versions left `processing` by a worker that died are queued again (once) or failed with
    the reason; runs whose worker lives but made no progress for INGESTION_STALE_MINUTES are
    failed. Returns (requeued, failed). Run by `manage.py recover_ingestion`, which the worker's
    systemd unit runs before each start (ExecStartPre); safe from any process at any time."""
    requeued = failed = 0
    cutoff = timezone.now() - timedelta(minutes=settings.INGESTION_STALE_MINUTES)
    for version in ToolkitVersion.objects.filter(status=ToolkitVersion.Status.PROCESSING):
        if not _try_lock(version.pk):  # a live worker holds it
            if version.heartbeat_at and version.heartbeat_at < cutoff:
                ingestion.fail(
                    version,
                    f"The ingestion worker stopped making progress (nothing for "
                    f"{settings.INGESTION_STALE_MINUTES} minutes). Use 'Retry ingestion'.",
                )
                failed += 1
            continue
        # Nobody holds the lock: the worker that started this run is gone.
        retry = version.attempts <= AUTOMATIC_RETRIES
        try:
            if retry:
                ToolkitVersion.objects.filter(pk=version.pk).update(status=ToolkitVersion.Status.PENDING)
            else:
                ingestion.fail(
                    version,
                    f"The ingestion worker stopped (killed or crashed) during each of "
                    f"{version.attempts} runs; check the worker's log and memory, then use "
                    "'Retry ingestion'.",
                )
                failed += 1
        finally:
            _unlock(version.pk)
        if retry:
            logger.warning("ingestion of version %s was abandoned by its worker; queued again", version.pk)
            enqueue_ingestion(version, automatic=True)
            requeued += 1
    return requeued, failed
