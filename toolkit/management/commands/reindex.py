from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from toolkit import ingestion, vector_index
from toolkit.models import Document


class Command(BaseCommand):
    help = (
        "Re-parse and re-embed toolkit versions (or only re-embed), e.g. after changing the embedding model."
    )

    def add_arguments(self, parser):
        # `--version ID` names a toolkit version here (the earlier ToolkitRAG's flag), so Django's
        # print-the-version flag is removed first.
        django_version_flag = parser._option_string_actions["--version"]
        parser._handle_conflict_resolve(None, [("--version", django_version_flag)])
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument(
            "--version", type=int, dest="document_id", help="the version's id (see the admin)"
        )
        target.add_argument("--all", action="store_true", help="every version")
        parser.add_argument(
            "--embeddings-only", action="store_true", help="keep chunks, recompute their embeddings"
        )

    def handle(self, *args, document_id: int | None, all: bool, embeddings_only: bool, **options):
        documents = Document.objects.order_by("pk")
        if document_id is not None:
            documents = documents.filter(pk=document_id)
            if not documents.exists():
                raise CommandError(f"No toolkit version with id {document_id}.")
        if embeddings_only:
            documents = documents.filter(status=Document.Status.READY)

        # A new EMBEDDING_DIMENSIONS needs its own HNSW index; vectors of the old dimension stay
        # out of it (and out of search) until they are re-embedded below.
        dimensions = settings.EMBEDDING_DIMENSIONS
        if vector_index.ensure_index(dimensions):
            self.stdout.write(f"Built the vector index for {dimensions}-dimensional embeddings.")

        total = documents.count()
        failed = 0
        for document in documents:

            def progress(done: int, total: int, label=str(document)) -> None:
                self.stdout.write(f"\r  {label}: {done}/{total}", ending="")
                self.stdout.flush()

            if embeddings_only:
                document = ingestion.reembed(document, progress)
                ok = not document.error
            else:
                document = ingestion.ingest(document, progress)
                ok = document.status == Document.Status.READY
            self.stdout.write("")
            if not ok:
                failed += 1
                self.stderr.write(f"{document}: {document.error}")
        summary = f"Reindexed {total - failed} of {total} version(s)"
        self.stdout.write(summary + (f"; {failed} failed." if failed else "."))
        if failed:
            raise CommandError(f"{failed} version(s) failed.")
