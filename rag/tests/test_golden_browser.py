"""An editor uploads v2 without the budget section in a real browser, watches its golden run finish
on the version page (the database task queue, worked by `manage.py db_worker`), sees the regression
beside the active version's answer, and activates v2 only after confirming it."""

import os
import subprocess
import sys

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.urls import reverse

from rag import golden
from rag.models import GoldenRun, RegressionAcceptance
from rag.tests.test_golden import BUDGET, FLOOD, add_golden, budget_heading, flood_heading, without
from toolkit.models import ToolkitVersion
from toolkitrag.testing import REPO_ROOT
from toolkitrag.testing.browser import log_in, needs_chromium
from toolkitrag.testing.docx_factory import make_docx
from toolkitrag.testing.servers import child_database_url
from toolkitrag.testing.toolkits import ingest_toolkit

pytestmark = [pytest.mark.django_db(transaction=True), needs_chromium, pytest.mark.system]


WORKER = ["db_worker", "--batch", "--max-tasks", "1", "--no-startup-delay", "--interval", "0.1"]


def work_one_task() -> None:
    call_command(*WORKER)


def start_worker(settings) -> subprocess.Popen:
    """The worker as production runs it: its own process (signal handlers need a main thread)."""
    env = {k: v for k, v in os.environ.items() if k not in ("ENV", "DEBUG")}
    env.update(
        DATABASE_URL=child_database_url(),
        TASKS_BACKEND="database",
        MEDIA_ROOT=settings.MEDIA_ROOT,
        KEYWORD_INDEX_DIR=settings.KEYWORD_INDEX_DIR,
        EMBEDDING_BACKEND="none",
        CHAT_BACKEND="none",
        LOG_LEVEL="WARNING",
    )
    return subprocess.Popen(
        [sys.executable, "manage.py", *WORKER], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def test_upload_v2_watch_the_run_see_the_regression_and_activate_with_confirmation(
    page, staff_user, settings, tmp_path
):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    staff_user.user_permissions.set(Permission.objects.filter(content_type__app_label__in=["toolkit", "rag"]))
    v1 = ingest_toolkit(version="v1")
    add_golden(v1, BUDGET, [budget_heading(v1)], words=["quarter"])
    add_golden(v1, FLOOD, [flood_heading(v1)])
    golden.run_version(v1, "test")
    docx = tmp_path / "v2.docx"
    make_docx(without("1.1 Budget"), docx)

    log_in(page, staff_user)
    page.goto(reverse("admin:toolkit_toolkitversion_add"))
    page.select_option("#id_toolkit", str(v1.toolkit_id))
    page.fill("#id_version_tag", "v2")
    page.set_input_files("#id_source_file", str(docx))
    page.click("input[name=_save]")
    page.wait_for_url("**/admin/toolkit/toolkitversion/")
    work_one_task()  # the ingestion; it queues the golden run
    v2 = ToolkitVersion.objects.get(version_tag="v2")
    assert v2.status == ToolkitVersion.Status.READY and not v2.is_active
    assert GoldenRun.objects.get(version=v2).status == GoldenRun.Status.PENDING

    page.goto(reverse("admin:toolkit_toolkitversion_change", args=[v2.pk]))
    page.click("text=Compare with the active version, run, activate")
    assert page.locator(".golden-run .golden-status").text_content() == "Pending"
    worker = start_worker(settings)
    try:
        page.wait_for_selector(".golden-newly-failing", timeout=60_000)  # the page reloads when done
    finally:
        output, _ = worker.communicate(timeout=60)
    assert worker.returncode == 0, output
    row = page.locator(".golden-newly-failing")
    assert BUDGET in row.text_content() and "Refused" in row.text_content()
    assert "reviewed every quarter" in row.locator("td").nth(2).text_content()  # v1's answer beside it
    assert page.locator(".golden-passed").text_content() == "1"

    page.click("text=Activate, accepting the regressions")  # not confirmed: refused
    assert "newly fail" in page.locator(".messagelist").text_content()
    v2.refresh_from_db()
    assert not v2.is_active
    page.check("#id_accept_regressions")
    page.click("text=Activate, accepting the regressions")
    assert "is now the active version" in page.locator(".messagelist").text_content()
    v2.refresh_from_db()
    assert v2.is_active
    assert RegressionAcceptance.objects.get().accepted_by == staff_user
    assert page.console_errors == []
