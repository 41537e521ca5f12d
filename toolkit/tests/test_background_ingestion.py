"""Production runs ingestion through the database task queue and `manage.py db_worker`."""

import io
import os
import signal
import subprocess
import sys
import time

import pytest
from django.core.management import call_command
from django.db import connection
from django_tasks_db.models import DBTaskResult

from toolkit import uploads
from toolkit.models import Toolkit, ToolkitVersion
from toolkit.tasks import INGESTION_LOCK, enqueue_ingestion
from toolkitrag.testing.docx_factory import make_docx, toolkit_spec

REPO_ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.system]  # starts db_worker processes


def advisory_lock_held(version_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s AND objid = %s"
            " AND objsubid = 2 AND granted",
            [INGESTION_LOCK, version_id],
        )
        return cursor.fetchone()[0] > 0


def test_upload_is_queued_and_a_db_worker_ingests_it(settings, tmp_path):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    path = tmp_path / "kit.docx"
    make_docx(toolkit_spec(), path)
    with path.open("rb") as stream:
        document = uploads.create_version(
            toolkit=Toolkit.objects.create(name="Kit"), version_tag="v1", stream=stream, filename="kit.docx"
        )
    enqueue_ingestion(document)  # autocommit: the task is queued at once

    document.refresh_from_db()
    assert document.status == ToolkitVersion.Status.PENDING
    assert DBTaskResult.objects.filter(status="READY").count() == 1

    call_command("db_worker", "--batch", "--no-startup-delay", "--interval", "0.1")
    document.refresh_from_db()
    assert document.status == ToolkitVersion.Status.READY and document.chunks.count() == 4
    assert DBTaskResult.objects.get().status == "SUCCESSFUL"


def worker_environment(fake_openai, media_root) -> dict:
    from toolkitrag.testing.servers import child_database_url

    env = {k: v for k, v in os.environ.items() if k not in ("ENV", "DEBUG")}
    env.update(
        DATABASE_URL=child_database_url(),
        TASKS_BACKEND="database",
        MEDIA_ROOT=str(media_root),
        EMBEDDING_BACKEND="openai",
        EMBEDDING_MODEL="test-embedding",
        EMBEDDING_TIMEOUT="60",
        OPENAI_BASE_URL=fake_openai.base_url,
        OPENAI_API_KEY="test-key",
        LOG_LEVEL="WARNING",
    )
    return env


def manage(*args: str, env: dict, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", *args], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, **kwargs,
    )  # fmt: skip


def test_a_worker_killed_mid_ingest_is_recovered_at_the_next_worker_start(settings, fake_openai, media_root):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    env = worker_environment(fake_openai, media_root)
    document = uploads.create_version(
        toolkit=Toolkit.objects.create(name="Kit"),
        version_tag="v1",
        stream=io.BytesIO(make_docx(toolkit_spec())),
        filename="kit.docx",
    )
    enqueue_ingestion(document)
    fake_openai.script = [{"delay": 60}]  # the first embedding call hangs: the run is in progress

    # --no-reload: one process, as in production (DEBUG turns the reloader on)
    worker = manage("db_worker", "--no-reload", "--interval", "0.1", "--no-startup-delay", env=env)
    deadline = time.monotonic() + 30
    while not fake_openai.requests:
        assert time.monotonic() < deadline and worker.poll() is None, worker.stdout.read()
        time.sleep(0.05)
    document.refresh_from_db()
    assert document.status == ToolkitVersion.Status.PROCESSING
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)

    # PostgreSQL ends the dead worker's session, and its lock with it: wait for that, not a fixed time.
    deadline = time.monotonic() + 60
    while advisory_lock_held(document.pk):
        assert time.monotonic() < deadline, "the killed worker's advisory lock was never released"
        time.sleep(0.1)
    document.refresh_from_db()
    assert document.status == ToolkitVersion.Status.PROCESSING  # nobody else would ever finish it

    # The next start, as the systemd unit does it: recover, then work.
    recovered = manage("recover_ingestion", env=env)
    output, _ = recovered.communicate(timeout=60)
    assert recovered.returncode == 0 and "1 queued again, 0 marked failed" in output
    worker = manage("db_worker", "--batch", "--interval", "0.1", "--no-startup-delay", env=env)
    worker.communicate(timeout=60)
    document.refresh_from_db()
    assert document.status == ToolkitVersion.Status.READY and document.chunks.count() == 4
    assert document.attempts == 2 and document.error == ""
