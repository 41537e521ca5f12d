"""Golden runs in the background (django-tasks, like toolkit/tasks.py's ingestion): started when a
version finishes ingesting or is re-embedded, and on demand from the version page."""

import logging

from django.db import transaction
from django_tasks import task

from rag import golden
from rag.models import GoldenQuestion, GoldenRun
from toolkit.models import ToolkitVersion

logger = logging.getLogger(__name__)


@task()
def run_golden_questions(run_id: int) -> str:
    golden_run = GoldenRun.objects.select_related("version").filter(pk=run_id).first()
    if golden_run is None or golden_run.status != GoldenRun.Status.PENDING:
        return "deleted or already run"
    version = golden_run.version
    # The comparison needs the active version's answers to today's questions: run it too if not.
    active = golden.other_active_version(version)
    try:
        if active is not None and not golden.is_current(golden.latest_run(active)):
            golden.run_version(active, trigger=f"baseline for {version.version_tag}")
        golden_run = golden.run(golden_run)
    except Exception as error:  # the baseline's failure fails this run too: nothing to compare with
        logger.exception("golden run %s failed", run_id)
        GoldenRun.objects.filter(pk=run_id, status=GoldenRun.Status.PENDING).update(
            status=GoldenRun.Status.FAILED, error=f"The active version's run failed ({type(error).__name__})."
        )
        return GoldenRun.Status.FAILED
    golden.activate_if_clean(version)
    return golden_run.status


def enqueue_golden_run(version: ToolkitVersion, trigger: str) -> GoldenRun | None:
    """Queue a run of the toolkit's golden questions on `version` once the surrounding transaction
    commits; None when the toolkit has none (then nothing holds back "activate when ready")."""
    if not GoldenQuestion.objects.filter(toolkit=version.toolkit_id).exists():
        return None
    golden_run = golden.start_run(version, trigger)
    transaction.on_commit(lambda: run_golden_questions.enqueue(golden_run.pk))
    return golden_run
