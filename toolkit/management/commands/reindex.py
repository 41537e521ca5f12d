from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from rag import golden
from toolkit import ingestion, keyword_index, tasks, vector_index
from toolkit.models import ToolkitVersion


class Command(BaseCommand):
    help = (
        "Re-parse and re-embed toolkit versions (or only re-embed, or only rebuild keyword indexes), "
        "e.g. after changing the embedding model."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        # `--version ID` names a toolkit version here, so it replaces Django's print-the-version flag.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--version", type=int, help="the toolkit version's id (see the admin)")
        target.add_argument("--all", action="store_true", help="every version")
        target.add_argument(
            "--vector-index-only",
            action="store_true",
            help="only rebuild the HNSW index if EMBEDDING_DIMENSIONS or RAG_HNSW_M/EF_CONSTRUCTION changed",
        )
        only = parser.add_mutually_exclusive_group()
        only.add_argument(
            "--embeddings-only", action="store_true", help="keep chunks, recompute their embeddings"
        )
        only.add_argument(
            "--keyword-only", action="store_true", help="keep chunks, rebuild their keyword indexes"
        )

    def handle(
        self,
        *args,
        version: int | None,
        all: bool,
        vector_index_only: bool,
        embeddings_only: bool,
        keyword_only: bool,
        **options,
    ):
        documents = ToolkitVersion.objects.order_by("pk")
        if version is not None:
            documents = documents.filter(pk=version)
            if not documents.exists():
                raise CommandError(f"No toolkit version with id {version}.")
        if embeddings_only or keyword_only:
            documents = documents.filter(status=ToolkitVersion.Status.READY)
        if keyword_only:
            self.rebuild_keyword_indexes(documents, remove_orphans=all)
            self.rerun_golden(documents)
            return

        # A new EMBEDDING_DIMENSIONS needs its own HNSW index; vectors of the old dimension stay
        # out of it (and out of search) until they are re-embedded below. New build parameters
        # (RAG_HNSW_M, RAG_HNSW_EF_CONSTRUCTION) rebuild it too.
        dimensions = settings.EMBEDDING_DIMENSIONS
        if vector_index.ensure_index(dimensions):
            built = ", ".join(f"{k}={v}" for k, v in vector_index.configured_parameters().items())
            self.stdout.write(f"Built the vector index for {dimensions}-dimensional embeddings ({built}).")
        elif vector_index_only:
            self.stdout.write("The vector index is up to date.")
        if vector_index_only:
            self.rerun_golden(ToolkitVersion.objects.all())
            return

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
                document = tasks.ingest_locked(document, progress)
                ok = document.status == ToolkitVersion.Status.READY
            self.stdout.write("")
            if not ok:
                failed += 1
                self.stderr.write(f"{document}: {document.error}")
        summary = f"Reindexed {total - failed} of {total} version(s)"
        self.stdout.write(summary + (f"; {failed} failed." if failed else "."))
        self.rerun_golden(documents)
        if failed:
            raise CommandError(f"{failed} version(s) failed.")

    def rebuild_keyword_indexes(self, documents, remove_orphans: bool) -> None:
        removed = keyword_index.remove_orphans() if remove_orphans else 0
        total = documents.count()
        failed = 0
        for document in documents:
            try:
                keyword_index.build(document.pk)
            except Exception as error:  # the others are still worth rebuilding
                failed += 1
                self.stderr.write(f"{document}: {type(error).__name__}: {error}")
        orphans = f"; removed {removed} of deleted versions" if removed else ""
        self.stdout.write(f"Rebuilt the keyword index of {total - failed} of {total} version(s){orphans}.")
        if failed:
            raise CommandError(f"{failed} keyword index(es) failed.")

    def rerun_golden(self, documents) -> None:
        """The golden questions of the active versions of the toolkits reindexed, again: the effect
        of a new embedding model or retrieval setting shows before users feel it."""
        active = ToolkitVersion.objects.filter(
            toolkit__in=documents.values("toolkit"), is_active=True, toolkit__golden_questions__isnull=False
        ).distinct()
        for version in active:
            before = golden.latest_run(version)
            after = golden.run_version(version, "reindex")
            line = f"Golden questions on {version}: {after.passed} passed, {after.failed} failed"
            if before is not None:
                line += f" (before: {before.passed} passed, {before.failed} failed)"
                for change in golden.changed_results(after, before):
                    state = "now failing" if not change.result.passed else "now passing"
                    self.stdout.write(f"  {state}: {change.question.question}")
            self.stdout.write(line + ".")
