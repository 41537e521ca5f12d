"""The demo toolkit ships with golden questions (demo/golden.csv, loaded by `make run`): they
import (twice: safe to re-run) and all pass on the demo toolkit, so the feature shows working."""

import io

import pytest
from django.core.management import call_command

from rag import golden
from rag.models import GoldenQuestion
from toolkitrag.testing import REPO_ROOT
from toolkitrag.testing.toolkits import ingest_demo_toolkit

pytestmark = pytest.mark.django_db


def test_the_demo_golden_questions_import_and_pass_on_the_demo_toolkit():
    version = ingest_demo_toolkit()
    for _ in range(2):
        out = io.StringIO()
        call_command(
            "golden", "import", str(REPO_ROOT / "demo" / "golden.csv"), "--toolkit", version.toolkit.name,
            stdout=out,
        )  # fmt: skip
    assert out.getvalue().strip() == f"{version.toolkit}: 0 golden question(s) added, 7 updated."
    assert GoldenQuestion.objects.filter(must_refuse=True).count() == 1
    run = golden.run_version(version, "test")
    failures = list(run.results.filter(passed=False).values_list("question__question", "reason"))
    assert (run.passed, failures) == (7, [])
