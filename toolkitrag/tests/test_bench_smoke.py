"""Each benchmark script runs end to end on a tiny input, so the scripts do not rot.

No timing is asserted: benchmarks measure, tests check that they still work.
"""

import json
import subprocess
import sys

from conftest import REPO_ROOT


def run_bench(script: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
        check=False,
    )


def test_analytics_bench_seeds_renders_every_page_and_writes_json(tmp_path):
    out = tmp_path / "analytics.json"
    result = run_bench("analytics.py", "--messages", "300", "--runs", "1", "--json", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "overview, last 30 days" in result.stdout and "messages CSV, 90 days" in result.stdout
    figures = json.loads(out.read_text())
    assert figures["messages"] == 300 and len(figures["pages"]) == 8
    assert all(page["bytes"] > 0 for page in figures["pages"].values())
