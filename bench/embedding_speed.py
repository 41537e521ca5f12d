"""Local embedding speed: per-question latency and ingestion throughput, ONNX int8 vs sentence-transformers.

    .venv/bin/python bench/embedding_speed.py [--runtimes onnx sentence-transformers] [--passages 300]

For each runtime and intra-op thread count (1 and 2), in a fresh process: the 100 demo questions
embedded one at a time (p50/p95 ms, after 5 warm-up calls), then passages embedded in batches of
100 as ingestion sends them (chunks/s): SciFact abstracts (read from ../shared/eval, never
copied; most reach the 256-token limit), or the demo toolkit's chunks repeated when absent.
Also the process's RSS once the model has run. The machine's load average is printed with each
row: on a shared box, two threads compete with everything else. Results:
bench/results/embedding_speed.json.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "toolkitrag.settings")

SCIFACT = ROOT.parent / "shared" / "eval" / "scifact"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def passages(count: int) -> list[str]:
    if SCIFACT.exists():
        with open(SCIFACT / "corpus.jsonl") as corpus:
            rows = [json.loads(line) for line, _ in zip(corpus, range(count), strict=False)]
        return [f"{row['title']}\n\n{row['text']}" for row in rows]
    from toolkit.chunking import chunk_blocks
    from toolkit.docx_parser import parse_docx

    parsed = parse_docx(ROOT / "demo" / "community-resilience-toolkit.docx")
    chunks = [draft.embedding_text() for draft in chunk_blocks(parsed.blocks, 350, 50)]
    return (chunks * (count // len(chunks) + 1))[:count]


def measure(runtime: str, threads: int, count: int) -> dict:
    """One runtime and thread count, in this process."""
    import django

    django.setup()
    from django.conf import settings

    settings.EMBEDDING_BACKEND = "local"
    settings.EMBEDDING_LOCAL_RUNTIME = runtime
    settings.EMBEDDING_MODEL = settings.LOCAL_MODEL_NAME[runtime]
    settings.EMBEDDING_THREADS = threads
    from toolkit.embeddings import get_embedder

    embedder = get_embedder()
    questions = [
        json.loads(line)["question"]
        for line in (ROOT / "bench" / "demo_questions.jsonl").read_text().splitlines()
        if line.strip()
    ]
    for question in questions[:5]:
        embedder.embed_batch([question])
    times = []
    for question in questions:
        started = time.perf_counter()
        embedder.embed_batch([question])
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    texts = passages(count)
    started = time.perf_counter()
    for start in range(0, len(texts), 100):
        embedder.embed_batch(texts[start : start + 100])
    seconds = time.perf_counter() - started
    return {
        "runtime": runtime,
        "threads": threads,
        "query_p50_ms": round(times[len(times) // 2], 1),
        "query_p95_ms": round(times[int(len(times) * 0.95)], 1),
        "passages": len(texts),
        "passages_source": "SciFact abstracts" if SCIFACT.exists() else "demo chunks",
        "chunks_per_s": round(len(texts) / seconds, 1),
        "rss_mb": round(rss_mb()),
        "load_average": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtimes", nargs="+", default=["onnx", "sentence-transformers"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--passages", type=int, default=300)
    parser.add_argument("--one", nargs=2, metavar=("RUNTIME", "THREADS"), help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "embedding_speed.json")
    args = parser.parse_args()
    if args.one:  # the child process
        print(json.dumps(measure(args.one[0], int(args.one[1]), args.passages)))
        return

    rows = []
    print(
        f"{'runtime':22} {'threads':>7} {'p50 ms':>7} {'p95 ms':>7} {'chunks/s':>9} {'RSS MB':>7} {'load':>5}"
    )
    for runtime in args.runtimes:
        for threads in args.threads:
            result = subprocess.run(
                [sys.executable, __file__, "--one", runtime, str(threads), "--passages", str(args.passages)],
                capture_output=True, text=True, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
            )  # fmt: skip
            row = json.loads(result.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(f"{runtime:22} {threads:>7} {row['query_p50_ms']:>7} {row['query_p95_ms']:>7} "
                  f"{row['chunks_per_s']:>9} {row['rss_mb']:>7} {row['load_average']:>5}")  # fmt: skip
    args.json.write_text(json.dumps({"cpus": os.cpu_count(), "rows": rows}, indent=2) + "\n")
    print(f"({rows[0]['passages']} {rows[0]['passages_source']} per run; written to {args.json})")


if __name__ == "__main__":
    main()
