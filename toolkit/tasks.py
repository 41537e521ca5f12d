"""Background work: ingestion runs as a django-tasks task (a database queue in production,
processed by `manage.py db_worker`; run at once in dev and tests)."""

from django.db import transaction
from django_tasks import task

from toolkit import ingestion
from toolkit.models import Document


@task()
def ingest_document(document_id: int, embeddings_only: bool = False) -> str:
    document = Document.objects.filter(pk=document_id).first()
    if document is None:
        return "deleted before it could be processed"
    ingestion.recover_abandoned_runs()
    if embeddings_only and document.status == Document.Status.READY:
        document = ingestion.reembed(document)
    else:
        document = ingestion.ingest(document)
    return document.status


def enqueue_ingestion(document: Document, embeddings_only: bool = False, automatic: bool = False) -> None:
    """Queue ingestion once the surrounding transaction (which created the row) commits.
    `automatic`: a retry of an abandoned run, which counts against its automatic retries."""
    if not embeddings_only:
        fields = {"status": Document.Status.PENDING, "error": ""}
        Document.objects.filter(pk=document.pk).update(**fields, **({} if automatic else {"attempts": 0}))
    transaction.on_commit(lambda: ingest_document.enqueue(document.pk, embeddings_only))
