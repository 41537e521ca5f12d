"""Golden questions: the questions a toolkit must keep answering, run against a version before it
answers anyone.

A run puts every golden question of the version's toolkit through the answer path of a user's
question (rag.questions.answer_unrecorded: retrieval, gate, answer, citation check), records what
came back and judges it. The version page compares the run with the active version's; activating a
version on which questions newly fail needs a confirmation, recorded as a RegressionAcceptance
(or is refused, with GOLDEN_BLOCK_ACTIVATION).

Sections are matched across versions as the "never cited" report matches them (by heading) and,
so that a renamed heading over the same text still matches, by a fingerprint of the section's
text (toolkit.models.section_fingerprints).
"""

import csv
import io
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from rag.models import GoldenQuestion, GoldenResult, GoldenRun, Message, RegressionAcceptance
from rag.providers import ChatError, get_chat_model
from rag.questions import answer_unrecorded
from toolkit.chunking import HEADING_SEPARATOR
from toolkit.models import START_OF_DOCUMENT, Chunk, Toolkit, ToolkitVersion, section_fingerprints

# Advisory-lock namespace, as toolkit/tasks.py's: a run holds (GOLDEN_LOCK, run id) on its database
# session while it goes on, so a run left `running` whose lock is free was abandoned by a worker
# that died (fail_abandoned_runs).
GOLDEN_LOCK = 0x676F  # "go"
CSV_COLUMNS = ["question", "expected_sections", "must_contain", "must_refuse"]
RUN_COLUMNS = [
    "question", "must_refuse", "expected_sections", "passed", "reason", "answered", "cited_sections",
    "answer", "total_ms",
]  # fmt: skip
TRUE_WORDS = {"1", "yes", "true", "y", "x"}
FALSE_WORDS = {"", "0", "no", "false", "n"}


# --- sections -----------------------------------------------------------------------------------


def sections_of(version: ToolkitVersion) -> dict[str, str]:
    """The version's sections in document order: heading (path joined by " > ") → fingerprint."""
    chunks = Chunk.objects.filter(document=version).order_by("ordinal").values_list("heading", "text")
    return section_fingerprints(list(chunks))


def expected_sections(version: ToolkitVersion, headings: Iterable[str]) -> list[dict]:
    """The sections named by heading, with their fingerprints in `version`; ValueError names the
    headings the version does not have."""
    sections = sections_of(version)
    headings = [h.strip() for h in headings if h.strip()]
    unknown = [h for h in headings if h not in sections]
    if unknown:
        raise ValueError(f"{version} has no section {', '.join(repr(h) for h in unknown)}.")
    return [{"heading": h, "fingerprint": sections[h]} for h in dict.fromkeys(headings)]


def _cited_sections(message: Message) -> list[dict]:
    cited = {}
    for citation in message.citations if message.answered else []:
        heading = HEADING_SEPARATOR.join(citation.get("heading_path") or []) or START_OF_DOCUMENT
        cited.setdefault(heading, {"chunk_id": citation["chunk_id"], "heading": heading})
    return list(cited.values())


# --- judging -------------------------------------------------------------------------------------


def judge(golden: GoldenQuestion, message: Message, sections: dict[str, str]) -> tuple[bool, str]:
    """Pass or fail, and why in words. A "must be refused" question passes only when refused;
    any other must be answered, cite an expected section (by heading or by the fingerprint of its
    text in the version run: `sections`) and contain each required word, case-insensitively."""
    if message.error:
        return False, f"The answer failed: {message.error}"
    if golden.must_refuse:
        if message.answered:
            return False, "Answered, but this question must be refused (the toolkit does not cover it)."
        return True, ""
    if not message.answered:
        return False, "Refused: the toolkit was judged not to cover it."
    reasons = []
    if golden.expected_sections:
        cited = _cited_sections(message)
        headings = {s["heading"] for s in golden.expected_sections}
        fingerprints = {s["fingerprint"] for s in golden.expected_sections}
        if not any(c["heading"] in headings or sections.get(c["heading"]) in fingerprints for c in cited):
            cited_text = "; ".join(c["heading"] for c in cited) or "nothing"
            reasons.append(f"Cited {cited_text}, not the expected {'; '.join(sorted(headings))}.")
    answer = message.answer.casefold()
    missing = [word for word in golden.must_contain if word.casefold() not in answer]
    if missing:
        reasons.append(f"The answer lacks {', '.join(repr(w) for w in missing)}.")
    return not reasons, " ".join(reasons)


# --- runs ----------------------------------------------------------------------------------------


def start_run(version: ToolkitVersion, trigger: str) -> GoldenRun:
    """A pending run of the toolkit's golden questions on `version` (shown at once on its page)."""
    total = GoldenQuestion.objects.filter(toolkit=version.toolkit_id).count()
    return GoldenRun.objects.create(version=version, trigger=trigger, progress_total=total)


def run(
    golden_run: GoldenRun, on_progress: Callable[[int, int], None] = lambda done, total: None
) -> GoldenRun:
    """Put every golden question of the run's toolkit to its version and record each result.
    Each result is saved as it comes (the page shows progress); a run that fails midway says why."""
    if not _lock(golden_run.pk, "pg_try_advisory_lock"):  # another process is running it
        golden_run.refresh_from_db()
        return golden_run
    try:
        return _run_locked(golden_run, on_progress)
    finally:
        _lock(golden_run.pk, "pg_advisory_unlock")


def _lock(run_id: int, function: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s, %s)", [GOLDEN_LOCK, run_id])
        return cursor.fetchone()[0]


def fail_abandoned_runs() -> int:
    """Runs left `running` by a worker that died are marked failed, with the reason (the page would
    otherwise show them running for ever). Run by `manage.py recover_ingestion` at each worker start."""
    failed = 0
    for golden_run in GoldenRun.objects.filter(status=GoldenRun.Status.RUNNING):
        if not _lock(golden_run.pk, "pg_try_advisory_lock"):  # a live process holds it
            continue
        try:
            failed += GoldenRun.objects.filter(pk=golden_run.pk, status=GoldenRun.Status.RUNNING).update(
                status=GoldenRun.Status.FAILED,
                error="The worker stopped during the run; use 'Run the golden questions now'.",
                finished_at=timezone.now(),
            )
        finally:
            _lock(golden_run.pk, "pg_advisory_unlock")
    return failed


def _run_locked(golden_run: GoldenRun, on_progress: Callable[[int, int], None]) -> GoldenRun:
    version = golden_run.version
    questions = list(GoldenQuestion.objects.filter(toolkit=version.toolkit_id).order_by("pk"))
    model = get_chat_model()
    GoldenRun.objects.filter(pk=golden_run.pk).update(
        status=GoldenRun.Status.RUNNING,
        started_at=timezone.now(),
        progress_total=len(questions),
        backend=model.name if model else "extractive",
    )
    golden_run.refresh_from_db()
    try:
        sections = sections_of(version)
        passed = 0
        for done, golden in enumerate(questions, start=1):
            result = answer_one(golden_run, golden, sections)
            passed += result.passed
            GoldenRun.objects.filter(pk=golden_run.pk).update(
                progress_done=done, passed=passed, failed=done - passed
            )
            on_progress(done, len(questions))
    except Exception as error:  # the page says the run failed, and why; never stuck "running"
        GoldenRun.objects.filter(pk=golden_run.pk).update(
            status=GoldenRun.Status.FAILED,
            error=f"The run stopped ({type(error).__name__}: {error}).",
            finished_at=timezone.now(),
        )
        raise
    GoldenRun.objects.filter(pk=golden_run.pk).update(
        status=GoldenRun.Status.DONE, finished_at=timezone.now()
    )
    golden_run.refresh_from_db()
    return golden_run


def answer_one(golden_run: GoldenRun, golden: GoldenQuestion, sections: dict[str, str]) -> GoldenResult:
    started = time.perf_counter()
    try:
        message = answer_unrecorded(golden.question, settings.RAG_TOP_K, [golden_run.version_id])
    except ChatError as error:  # the model's failure is this question's result, not the run's end
        message = Message(query=golden.question, error=str(error))
    passed, reason = judge(golden, message, sections)
    return GoldenResult.objects.update_or_create(  # safe to re-run
        run=golden_run,
        question=golden,
        defaults={
            "answered": message.answered,
            "answer": message.answer or message.error,
            "cited_sections": _cited_sections(message),
            "passed": passed,
            "reason": reason,
            "total_ms": round((time.perf_counter() - started) * 1000),
        },
    )[0]


def run_version(version: ToolkitVersion, trigger: str, on_progress=lambda done, total: None) -> GoldenRun:
    """Start and finish a run now (the command line, the benchmark, tests)."""
    return run(start_run(version, trigger), on_progress)


def latest_run(version: ToolkitVersion, finished: bool = True) -> GoldenRun | None:
    runs = GoldenRun.objects.filter(version=version)
    if finished:
        runs = runs.filter(status=GoldenRun.Status.DONE)
    return runs.order_by("-created_at", "-pk").first()


def is_current(golden_run: GoldenRun | None) -> bool:
    """Whether the run answered today's golden questions as they are now (none added or edited since)."""
    if golden_run is None or golden_run.status != GoldenRun.Status.DONE:
        return False
    questions = GoldenQuestion.objects.filter(toolkit=golden_run.version.toolkit_id)
    edited = questions.aggregate(last=Max("updated_at"))["last"]
    if edited and edited > golden_run.started_at:
        return False
    answered = set(golden_run.results.values_list("question_id", flat=True))
    return set(questions.values_list("pk", flat=True)) <= answered


def other_active_version(version: ToolkitVersion) -> ToolkitVersion | None:
    return (
        ToolkitVersion.objects.filter(toolkit=version.toolkit_id, is_active=True)
        .exclude(pk=version.pk)
        .first()
    )


# --- comparing with the active version ------------------------------------------------------------


@dataclass
class Change:
    question: GoldenQuestion
    result: GoldenResult | None  # on the version
    active_result: GoldenResult | None  # on the active version

    @property
    def newly_failing(self) -> bool:
        return (
            self.result is not None
            and not self.result.passed
            and bool(self.active_result and self.active_result.passed)
        )


@dataclass
class Comparison:
    version: ToolkitVersion
    run: GoldenRun | None
    active_version: ToolkitVersion | None
    active_run: GoldenRun | None
    changes: list[Change] = field(default_factory=list)  # results that differ, newly failing first

    @property
    def newly_failing(self) -> list[Change]:
        return [change for change in self.changes if change.newly_failing]

    @property
    def untested(self) -> bool:
        """Golden questions exist, another version answers now, and this one has no finished run."""
        return (
            self.run is None
            and self.active_version is not None
            and GoldenQuestion.objects.filter(toolkit=self.version.toolkit_id).exists()
        )

    @property
    def newly_passing(self) -> list[Change]:
        return [c for c in self.changes if c.result and c.result.passed and not c.newly_failing]


def compare(version: ToolkitVersion) -> Comparison:
    """The version's latest finished run beside the active version's, question by question."""
    active = other_active_version(version)
    mine, theirs = latest_run(version), latest_run(active) if active else None
    comparison = Comparison(version, mine, active, theirs)
    if mine is not None and theirs is not None:
        comparison.changes = changed_results(mine, theirs)
    return comparison


def changed_results(golden_run: GoldenRun, before: GoldenRun) -> list[Change]:
    """The questions whose result differs between two runs, newly failing first."""
    earlier = {r.question_id: r for r in before.results.all()}
    changes = [
        Change(result.question, result, earlier[result.question_id])
        for result in golden_run.results.select_related("question")
        if result.question_id in earlier and earlier[result.question_id].passed != result.passed
    ]
    return sorted(changes, key=lambda change: (not change.newly_failing, change.question.pk))


def summary(comparison: Comparison) -> str:
    """One line: the run's counts and, against the active version, what newly fails."""
    golden_run = comparison.run
    if golden_run is None:
        return f"{comparison.version}: no finished golden run."
    line = f"{comparison.version}: {golden_run.passed} passed, {golden_run.failed} failed"
    if comparison.active_run is not None:
        active = comparison.active_run
        line += (
            f"; active {comparison.active_version}: {active.passed} passed, {active.failed} failed; "
            f"{len(comparison.newly_failing)} newly failing, {len(comparison.newly_passing)} newly passing"
        )
    return line + "."


# --- activation -----------------------------------------------------------------------------------


class RegressionsFound(Exception):
    """Activation needs a confirmation (or is blocked): golden questions newly fail."""

    def __init__(self, comparison: Comparison, blocked: bool):
        self.comparison = comparison
        self.blocked = blocked
        how = "GOLDEN_BLOCK_ACTIVATION forbids activating it" if blocked else "confirm to activate anyway"
        if comparison.untested:
            what = f"The golden questions have not been run on {comparison.version} yet"
        else:
            what = f"{len(comparison.newly_failing)} golden question(s) newly fail on {comparison.version}"
        super().__init__(f"{what}: {how}.")


def activate(version: ToolkitVersion, user=None, accept_regressions: bool = False) -> Comparison:
    """Make `version` active unless golden questions newly fail on it: then only with
    `accept_regressions` (recorded with `user`), and never with GOLDEN_BLOCK_ACTIVATION.
    Every interactive way of activating a version goes through here."""
    comparison = compare(version)
    regressions = comparison.newly_failing
    if regressions and (settings.GOLDEN_BLOCK_ACTIVATION or not accept_regressions):
        raise RegressionsFound(comparison, blocked=settings.GOLDEN_BLOCK_ACTIVATION)
    if comparison.untested and not accept_regressions:  # its run is still queued (or never ran)
        raise RegressionsFound(comparison, blocked=False)
    with transaction.atomic():
        if regressions or comparison.untested:
            RegressionAcceptance.objects.create(
                version=version,
                replaced=comparison.active_version,
                accepted_by=user,
                regressions=[
                    {"question_id": c.question.pk, "question": c.question.question, "reason": c.result.reason}
                    for c in regressions
                ]
                or [{"question_id": None, "question": "(activated before any golden run)", "reason": ""}],
            )
        version.activate()
    return comparison


def activate_if_clean(version: ToolkitVersion) -> bool:
    """After a run: a version uploaded as "activate when ready" becomes active only when no golden
    question newly fails (nobody is there to confirm); otherwise it waits for an editor."""
    version.refresh_from_db()
    if not version.activate_when_ready or version.is_active or version.status != ToolkitVersion.Status.READY:
        return False
    if compare(version).newly_failing:
        ToolkitVersion.objects.filter(pk=version.pk).update(activate_when_ready=False)
        return False
    version.activate()
    return True


# --- CSV --------------------------------------------------------------------------------------------


class ImportRejected(Exception):
    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("; ".join(errors))


def _flag(value: str) -> bool | None:
    value = value.strip().lower()
    return True if value in TRUE_WORDS else False if value in FALSE_WORDS else None


def import_csv(toolkit: Toolkit, text: str, user=None, origin: str = "CSV import") -> tuple[int, int]:
    """Golden questions from CSV (columns CSV_COLUMNS: expected sections as heading paths, " > "
    between levels and "|" between sections; must_contain words separated by "|"; must_refuse
    yes/no), checked against the toolkit's active version. Every row is checked first: all are
    imported or, with ImportRejected naming each bad row, none. A question already there is
    updated (safe to re-run). Returns (created, updated)."""
    version = toolkit.active_version
    if version is None:
        raise ImportRejected([f"{toolkit} has no active version to pick sections from."])
    sections = sections_of(version)
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [c for c in ("question",) if c not in (reader.fieldnames or [])]
    if missing:
        raise ImportRejected([f"The header must name the columns {', '.join(CSV_COLUMNS)}."])
    rows, errors = [], []
    for line, row in enumerate(reader, start=2):
        question = " ".join((row.get("question") or "").split())
        headings = [h.strip() for h in (row.get("expected_sections") or "").split("|") if h.strip()]
        words = [w.strip() for w in (row.get("must_contain") or "").split("|") if w.strip()]
        refuse = _flag(row.get("must_refuse") or "")
        problems = []
        if not question:
            problems.append("the question is empty")
        if refuse is None:
            problems.append(f"must_refuse is {row.get('must_refuse')!r}, not yes or no")
        unknown = [h for h in headings if h not in sections]
        if unknown:
            problems.append(f"{version} has no section {', '.join(repr(h) for h in unknown)}")
        if refuse and (headings or words):
            problems.append("a question that must be refused has no expected sections or words")
        if problems:
            errors.append(f"Row {line}: {'; '.join(problems)}.")
            continue
        expected = [{"heading": h, "fingerprint": sections[h]} for h in dict.fromkeys(headings)]
        rows.append((question, expected, words, bool(refuse)))
    if errors:
        raise ImportRejected(errors)
    if not rows:
        raise ImportRejected(["The file has no rows."])
    created = 0
    with transaction.atomic():
        for question, expected, words, refuse in rows:
            _, new = GoldenQuestion.objects.update_or_create(
                toolkit=toolkit,
                question=question,
                defaults={"expected_sections": expected, "must_contain": words, "must_refuse": refuse},
                create_defaults={
                    "expected_sections": expected, "must_contain": words, "must_refuse": refuse,
                    "origin": origin, "created_by": user,
                },
            )  # fmt: skip
            created += new
    return created, len(rows) - created


def run_rows(golden_run: GoldenRun) -> Iterator[list]:
    """A run's results as CSV rows (RUN_COLUMNS), for rag.csv_export.csv_lines."""
    for result in golden_run.results.select_related("question").order_by("question_id"):
        golden = result.question
        yield [
            golden.question,
            "yes" if golden.must_refuse else "no",
            " | ".join(golden.expected_headings),
            "yes" if result.passed else "no",
            result.reason,
            "yes" if result.answered else "no",
            " | ".join(c["heading"] for c in result.cited_sections),
            result.answer,
            result.total_ms,
        ]


# --- one click from analytics ------------------------------------------------------------------------


PREFILL_KINDS = ("cited", "pick", "refuse")


def prefill_from_message(message: Message, kind: str = "cited") -> dict:
    """A golden question's initial values from a question users asked: its text and toolkit, and
    as expected sections those its answer cited ("cited": a thumbs-up, "this was right"), none
    yet ("pick": a content gap or a thumbs-down, the editor picks the section that should answer)
    or none because it must be refused ("refuse")."""
    cited = _cited_sections(message) if kind == "cited" else []
    chunk_toolkits = Chunk.objects.filter(pk__in=[c["chunk_id"] for c in message.citations]).values_list(
        "document__toolkit_id", flat=True
    )
    version_toolkits = ToolkitVersion.objects.filter(pk__in=message.document_ids).values_list(
        "toolkit_id", flat=True
    )
    toolkit_id = next(iter(chunk_toolkits), None) or next(iter(version_toolkits), None)
    return {
        "question": message.query,
        "toolkit": toolkit_id,
        "expected_headings": [c["heading"] for c in cited],
        "must_refuse": kind == "refuse",
        "origin": f"message {message.pk}",
    }


def pass_rates(toolkit_id: int | None = None, limit: int = 30) -> list[dict]:
    """The pass rate of each version's latest finished run, oldest first: the analytics chart."""
    runs = GoldenRun.objects.filter(status=GoldenRun.Status.DONE).select_related("version__toolkit")
    if toolkit_id is not None:
        runs = runs.filter(version__toolkit=toolkit_id)
    latest: dict[int, GoldenRun] = {}
    for golden_run in runs.order_by("-finished_at")[: limit * 10]:
        latest.setdefault(golden_run.version_id, golden_run)
    ordered = sorted(latest.values(), key=lambda r: r.finished_at)[-limit:]
    return [
        {
            "label": f"{r.version.toolkit.name} {r.version.version_tag}",
            "passed": r.passed,
            "failed": r.failed,
            "rate": round(100 * r.passed / (r.passed + r.failed)) if r.passed + r.failed else None,
            "finished_at": r.finished_at,
            "version_id": r.version_id,
        }
        for r in ordered
    ]
