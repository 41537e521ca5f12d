"""Golden questions: a run on a new version puts each question through the real answer path
(extractive: no model configured) and judges it against the sections that should answer it."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from rag import golden
from rag.models import Conversation, GoldenQuestion, GoldenResult, GoldenRun, Message, RegressionAcceptance
from toolkitrag.testing.toolkits import TOOLKIT, ingest_toolkit

pytestmark = pytest.mark.django_db

BUDGET = "How often is the budget reviewed?"
FLOOD = "Where is the rest centre opened in a flood?"
OFF_TOPIC = "What is the recipe for chocolate cake?"


def without(heading: str) -> list[tuple]:
    """TOOLKIT without the section under `heading` (its heading and paragraph)."""
    at = TOOLKIT.index(next(item for item in TOOLKIT if item[1] == heading))
    return TOOLKIT[:at] + TOOLKIT[at + 2 :]


def renamed(old: str, new: str) -> list[tuple]:
    return [(kind, new if text == old else text) for kind, text in TOOLKIT]


@pytest.fixture
def v1():
    return ingest_toolkit(version="v1")


def add_golden(version, question: str, headings=(), words=(), refuse=False) -> GoldenQuestion:
    return GoldenQuestion.objects.create(
        toolkit=version.toolkit,
        question=question,
        expected_sections=golden.expected_sections(version, headings),
        must_contain=list(words),
        must_refuse=refuse,
    )


def budget_heading(version) -> str:
    return next(h for h in golden.sections_of(version) if h.endswith("1.1 Budget"))


def flood_heading(version) -> str:
    return next(h for h in golden.sections_of(version) if h.endswith("2 Emergencies"))


def result_of(golden_run, question: GoldenQuestion) -> GoldenResult:
    return golden_run.results.get(question=question)


def test_a_version_that_drops_the_cited_section_fails_its_golden_question(v1):
    budget = add_golden(v1, BUDGET, [budget_heading(v1)], words=["quarter"])
    flood = add_golden(v1, FLOOD, [flood_heading(v1)], words=["village hall"])
    first = golden.run_version(v1, "test")
    assert (first.passed, first.failed) == (2, 0), list(first.results.values("reason"))

    v2 = ingest_toolkit(without("1.1 Budget"), version="v2", activate=False)
    second = golden.run_version(v2, "test")
    failed = result_of(second, budget)
    assert not failed.passed
    assert "not the expected" in failed.reason or "Refused" in failed.reason
    assert result_of(second, flood).passed
    comparison = golden.compare(v2)
    assert [change.question for change in comparison.newly_failing] == [budget]
    assert "1 newly failing" in golden.summary(comparison)


def test_a_renamed_heading_over_the_same_text_still_passes(v1):
    budget = add_golden(v1, BUDGET, [budget_heading(v1)])
    v2 = ingest_toolkit(renamed("1.1 Budget", "1.1 Money matters"), version="v2", activate=False)
    assert budget_heading(v1) not in golden.sections_of(v2)  # the path really changed
    golden_run = golden.run_version(v2, "test")
    result = result_of(golden_run, budget)
    assert result.passed, result.reason
    assert any("Money matters" in c["heading"] for c in result.cited_sections)


def test_a_question_that_must_be_refused_passes_only_when_refused(v1):
    refused = add_golden(v1, OFF_TOPIC, refuse=True)
    answered = add_golden(v1, BUDGET, refuse=True)
    golden_run = golden.run_version(v1, "test")
    assert result_of(golden_run, refused).passed
    result = result_of(golden_run, answered)
    assert not result.passed and "must be refused" in result.reason


def test_a_missing_required_word_fails_with_the_word_named(v1):
    budget = add_golden(v1, BUDGET, [budget_heading(v1)], words=["quarter", "Fortnightly"])
    result = result_of(golden.run_version(v1, "test"), budget)
    assert not result.passed and "'Fortnightly'" in result.reason and "'quarter'" not in result.reason


def test_a_run_is_not_a_users_question(v1):
    add_golden(v1, BUDGET, [budget_heading(v1)])
    golden.run_version(v1, "test")
    assert not Message.objects.exists() and not Conversation.objects.exists()


def test_activation_with_newly_failing_questions_needs_a_confirmation_that_is_recorded(
    v1, staff_user, settings
):
    budget = add_golden(v1, BUDGET, [budget_heading(v1)])
    golden.run_version(v1, "test")
    v2 = ingest_toolkit(without("1.1 Budget"), version="v2", activate=False)
    golden.run_version(v2, "test")

    with pytest.raises(golden.RegressionsFound) as found:
        golden.activate(v2, staff_user)
    assert not found.value.blocked
    v2.refresh_from_db()
    assert not v2.is_active and not RegressionAcceptance.objects.exists()

    settings.GOLDEN_BLOCK_ACTIVATION = True
    with pytest.raises(golden.RegressionsFound) as found:
        golden.activate(v2, staff_user, accept_regressions=True)
    assert found.value.blocked

    settings.GOLDEN_BLOCK_ACTIVATION = False
    golden.activate(v2, staff_user, accept_regressions=True)
    v2.refresh_from_db()
    assert v2.is_active
    (accepted,) = RegressionAcceptance.objects.all()
    assert accepted.accepted_by == staff_user and accepted.replaced == v1
    assert [r["question_id"] for r in accepted.regressions] == [budget.pk]


def test_activation_without_regressions_needs_no_confirmation(v1):
    add_golden(v1, BUDGET, [budget_heading(v1)])
    golden.run_version(v1, "test")
    v2 = ingest_toolkit(renamed("3 Evaluation", "3 Review"), version="v2", activate=False)
    golden.run_version(v2, "test")
    golden.activate(v2)
    v2.refresh_from_db()
    assert v2.is_active and not RegressionAcceptance.objects.exists()


def test_the_command_exits_non_zero_on_regressions_and_zero_without(v1):
    add_golden(v1, BUDGET, [budget_heading(v1)])
    add_golden(v1, FLOOD, [flood_heading(v1)])
    out = io.StringIO()
    call_command("golden", "run", "--version", str(v1.pk), stdout=out)
    assert out.getvalue().strip().endswith(f"{v1}: 2 passed, 0 failed.")

    ingest_toolkit(without("1.1 Budget"), version="v2", activate=False)
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 golden question"):
        call_command("golden", "run", "--toolkit", v1.toolkit.name, stdout=out)
    assert "NEWLY FAILING: " + BUDGET in out.getvalue()
    assert "1 newly failing" in out.getvalue().splitlines()[-1]
    with pytest.raises(CommandError, match="No toolkit version"):
        call_command("golden", "run", "--version", "999999")


def test_a_version_not_yet_run_needs_a_confirmation_too(v1):
    add_golden(v1, BUDGET, [budget_heading(v1)])
    golden.run_version(v1, "test")
    v2 = ingest_toolkit(version="v2", activate=False)  # its run has not happened yet
    with pytest.raises(golden.RegressionsFound, match="not been run on"):
        golden.activate(v2)
    golden.activate(v2, accept_regressions=True)
    v2.refresh_from_db()
    assert v2.is_active and RegressionAcceptance.objects.get().regressions[0]["question_id"] is None


def test_a_run_left_running_by_a_dead_worker_is_failed_at_the_next_worker_start(v1):
    add_golden(v1, BUDGET, [budget_heading(v1)])
    abandoned = golden.start_run(v1, "ingested")
    GoldenRun.objects.filter(pk=abandoned.pk).update(status=GoldenRun.Status.RUNNING)  # its process died
    out = io.StringIO()
    call_command("recover_ingestion", stdout=out)
    assert "Abandoned golden runs marked failed: 1." in out.getvalue()
    abandoned.refresh_from_db()
    assert abandoned.status == GoldenRun.Status.FAILED and "worker stopped" in abandoned.error
