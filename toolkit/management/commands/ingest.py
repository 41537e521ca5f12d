from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from rag import golden
from toolkit import tasks, uploads
from toolkit.docx_validation import DocxRejected
from toolkit.models import LANGUAGES, Toolkit, ToolkitVersion


class Command(BaseCommand):
    help = "Ingest a .docx as a new version of a toolkit (created if new), printing progress."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--toolkit", required=True, help="toolkit name, e.g. 'Community Toolkit'")
        parser.add_argument("--version-tag", required=True, help="unique within the toolkit, e.g. v2")
        parser.add_argument("--title", default="", help="defaults to the document's title or first heading")
        parser.add_argument("--activate", action="store_true", help="make this the version that answers")
        parser.add_argument(
            "--language",
            choices=[code for code, _ in LANGUAGES],
            help="a new toolkit's language, for keyword search (default english)",
        )
        parser.add_argument(
            "--accept-regressions",
            action="store_true",
            help="with --activate: activate even if golden questions newly fail (recorded)",
        )
        parser.add_argument(
            "--if-missing", action="store_true", help="do nothing (exit 0) when this version already exists"
        )

    def handle(
        self, *args, path: Path, toolkit: str, version_tag: str, title: str, activate: bool, **options
    ):
        version_tag = version_tag.strip()
        if not version_tag:
            raise CommandError("--version-tag must not be empty.")
        existing = ToolkitVersion.objects.filter(toolkit__name=toolkit, version_tag=version_tag).first()
        if existing is not None:
            if options["if_missing"]:
                self.stdout.write(f"{existing} already exists ({existing.status}); nothing to do.")
                return
            raise CommandError(f"Toolkit '{toolkit}' already has a version '{version_tag}'.")
        if not path.is_file():
            raise CommandError(f"{path}: no such file.")
        try:
            with path.open("rb") as stream:
                parsed = uploads.check_upload(stream, path.name)
                with transaction.atomic():
                    toolkit_row, _ = Toolkit.objects.get_or_create(
                        name=toolkit, defaults={"language": options["language"] or "english"}
                    )
                    if options["language"] not in (None, toolkit_row.language):
                        raise CommandError(
                            f"Toolkit '{toolkit}' is in {toolkit_row.language}; change it in the admin."
                        )
                    document = uploads.create_version(
                        toolkit=toolkit_row,
                        version_tag=version_tag,
                        stream=stream,
                        filename=path.name,
                        title=title,
                        activate=activate,
                        parsed=parsed,
                    )
        except (DocxRejected, uploads.StorageFailed) as error:
            raise CommandError(f"{path.name}: {error}") from None

        def progress(done: int, total: int) -> None:
            self.stdout.write(f"\r  indexed {done}/{total} chunks", ending="")
            self.stdout.flush()

        self.stdout.write(f"Ingesting {path.name} as {document} ...")
        document = tasks.ingest_locked(document, progress)
        self.stdout.write("")
        if document.status != ToolkitVersion.Status.READY:
            raise CommandError(f"{document}: {document.error}")
        if document.toolkit.golden_questions.exists():
            document = self.run_golden(document, activate, options["accept_regressions"])
        self.stdout.write(
            f"{document}: ready, {document.chunks.count()} chunks, {document.embeddings_computed} embedded, "
            f"{document.embeddings_reused} reused from cache, {document.embedding_calls} embedding calls"
            f"{', active' if document.is_active else ''}."
        )

    def run_golden(self, document: ToolkitVersion, activate: bool, accept: bool) -> ToolkitVersion:
        """The toolkit's golden questions on the new version (and on the active one, if its answers
        are out of date); --activate then activates only without newly failing ones, or with
        --accept-regressions (recorded)."""
        active = golden.other_active_version(document)
        if active is not None and not golden.is_current(golden.latest_run(active)):
            golden.run_version(active, "baseline for ingest")
        golden.run_version(document, "ingest")
        self.stdout.write(golden.summary(golden.compare(document)))
        if activate and not document.is_active:
            try:
                golden.activate(document, accept_regressions=accept)
            except golden.RegressionsFound as found:
                hint = "" if found.blocked else " Pass --accept-regressions to activate it anyway."
                raise CommandError(f"{found} Not activated.{hint}") from None
        document.refresh_from_db()
        return document
