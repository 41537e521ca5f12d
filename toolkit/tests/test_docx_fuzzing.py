"""The upload path fuzzed with mutations of the real .docx files in ../shared/eval/docx: every
damaged file is accepted or rejected with a sentence, never a crash, within a memory limit.
A bounded run of bench/fuzz_docx.py (the script runs longer ones; see docs/reliability.md)."""

import json
import subprocess
import sys

import pytest

from toolkitrag.testing import REPO_ROOT
from toolkitrag.testing.docx_factory import SHARED_DOCX

pytestmark = pytest.mark.system  # starts bench/fuzz_docx.py

MEMORY_LIMIT_MB = 1024


@pytest.mark.parametrize("seed", [11, 12])
def test_mutated_real_docx_files_are_accepted_or_rejected_cleanly(tmp_path, seed):
    if not any(SHARED_DOCX.glob("*.docx")):
        pytest.skip("needs ../shared/eval/docx (the shared evaluation corpus is not beside this clone)")
    report = tmp_path / "fuzz.json"
    run = subprocess.run(
        [sys.executable, "bench/fuzz_docx.py", "--iterations", "250", "--seed", str(seed),
         "--memory-limit-mb", str(MEMORY_LIMIT_MB), "--corpus", str(SHARED_DOCX), "--json", str(report)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    result = json.loads(report.read_text())
    assert run.returncode == 0 and result["crashes"] == [], run.stdout[-3000:] + run.stderr[-2000:]
    assert result["outcomes"]["rejected"] > 100 and result["outcomes"]["accepted"] > 10
    assert result["peak_rss_mb"] < MEMORY_LIMIT_MB
