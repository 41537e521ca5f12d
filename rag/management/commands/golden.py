from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from rag import golden
from toolkit.models import Toolkit, ToolkitVersion


class Command(BaseCommand):
    help = (
        "Golden questions: `run` puts them to a version (or a toolkit's newest ready version) and "
        "exits non-zero when any newly fails against the active version; `import` loads a CSV."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        # `--version ID` names a toolkit version here, so it replaces Django's print-the-version flag.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="action", required=True)
        run = commands.add_parser("run", help="run the golden questions and print the comparison")
        run.conflict_handler = "resolve"
        target = run.add_mutually_exclusive_group(required=True)
        target.add_argument("--version", type=int, help="the toolkit version's id (see the admin)")
        target.add_argument("--toolkit", help="toolkit name: its newest ready version")
        load = commands.add_parser("import", help="add or update golden questions from a CSV file")
        load.add_argument("path", type=Path)
        load.add_argument("--toolkit", required=True, help="toolkit name, e.g. 'Community Toolkit'")

    def handle(self, *args, action: str, **options):
        if action == "import":
            self.load(options["path"], options["toolkit"])
        else:
            self.run(self.version(options.get("version"), options.get("toolkit")))

    def version(self, version_id: int | None, toolkit: str | None) -> ToolkitVersion:
        versions = ToolkitVersion.objects.select_related("toolkit")
        if version_id is not None:
            found = versions.filter(pk=version_id).first()
            if found is None:
                raise CommandError(f"No toolkit version with id {version_id}.")
            return found
        found = versions.filter(toolkit__name=toolkit, status=ToolkitVersion.Status.READY).order_by(
            "-created_at"
        )
        if not found.exists():
            raise CommandError(f"No ready version of a toolkit named '{toolkit}'.")
        return found.first()

    def run(self, version: ToolkitVersion) -> None:
        if version.status != ToolkitVersion.Status.READY:
            raise CommandError(f"{version} is {version.status}, not ready.")
        if not version.toolkit.golden_questions.exists():
            raise CommandError(f"{version.toolkit} has no golden questions.")
        active = golden.other_active_version(version)
        if active is not None and not golden.is_current(golden.latest_run(active)):
            golden.run_version(active, "command (baseline)", self.progress(active))
            self.stdout.write("")
        golden.run_version(version, "command", self.progress(version))
        self.stdout.write("")
        comparison = golden.compare(version)
        for change in comparison.changes:
            state = "NEWLY FAILING" if change.newly_failing else "newly passing"
            self.stdout.write(f"  {state}: {change.question.question}")
            if change.newly_failing:
                self.stdout.write(f"    {change.result.reason}")
        for result in comparison.run.results.filter(passed=False).select_related("question"):
            self.stdout.write(f"  failed: {result.question.question} — {result.reason}")
        self.stdout.write(golden.summary(comparison))
        if comparison.newly_failing:
            raise CommandError(f"{len(comparison.newly_failing)} golden question(s) newly fail on {version}.")

    def progress(self, version: ToolkitVersion):
        def show(done: int, total: int) -> None:
            self.stdout.write(f"\r  {version}: {done}/{total} golden questions", ending="")
            self.stdout.flush()

        return show

    def load(self, path: Path, toolkit_name: str) -> None:
        toolkit = Toolkit.objects.filter(name=toolkit_name).first()
        if toolkit is None:
            raise CommandError(f"No toolkit named '{toolkit_name}'.")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"{path}: {error}") from None
        try:
            created, updated = golden.import_csv(toolkit, text, origin=f"import of {path.name}")
        except golden.ImportRejected as rejected:
            raise CommandError("Nothing imported. " + " ".join(rejected.errors)) from None
        self.stdout.write(f"{toolkit}: {created} golden question(s) added, {updated} updated.")
