"""Production runs ingestion through the database task queue and `manage.py db_worker`."""

import pytest
from django.core.management import call_command
from django_tasks_db.models import DBTaskResult

from toolkit import ingestion
from toolkit.models import Document, Toolkit
from toolkit.tasks import enqueue_ingestion
from toolkit.tests.docx_factory import make_docx, toolkit_spec

pytestmark = pytest.mark.django_db(transaction=True)


def test_upload_is_queued_and_a_db_worker_ingests_it(settings, tmp_path):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    path = tmp_path / "kit.docx"
    make_docx(toolkit_spec(), path)
    with path.open("rb") as stream:
        document = ingestion.create_document(
            toolkit=Toolkit.objects.create(name="Kit"), version_tag="v1", stream=stream, filename="kit.docx"
        )
    enqueue_ingestion(document)  # autocommit: the task is queued at once

    document.refresh_from_db()
    assert document.status == Document.Status.PENDING
    assert DBTaskResult.objects.filter(status="READY").count() == 1

    call_command("db_worker", "--batch", "--no-startup-delay", "--interval", "0.1")
    document.refresh_from_db()
    assert document.status == Document.Status.READY and document.chunks.count() == 4
    assert DBTaskResult.objects.get().status == "SUCCESSFUL"
