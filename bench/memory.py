"""Memory of the whole stack with the local embedding model, at 100k chunks: RSS and PSS per process.

    .venv/bin/python bench/memory.py [--chunks 100000] [--questions 60]
        [--backends none local] [--json bench/results/memory.json]

A throwaway embedded PostgreSQL holds --chunks synthetic chunks (384-dim vectors, HNSW; see
bench/latency.py) and the demo toolkit. For each EMBEDDING_BACKEND given (`none`: no model;
`local`: int8 all-MiniLM-L6-v2 on onnxruntime; `sentence-transformers`: the fp32 model on torch,
needs requirements-local.txt), gunicorn runs as deployed (deploy/gunicorn.conf.py, the unit's
environment: 2 workers x 80 threads) beside a task worker (`manage.py db_worker`). The worker
ingests a 60-section toolkit (new text, so nothing comes from the embedding cache) while four
clients ask the demo questions through /api/rag/answer (extractive answers: no chat model), so
both gunicorn workers embed questions. Then, per process, RSS (VmRSS) and PSS (smaps_rollup:
shared pages divided among the processes sharing them), and the stack's total PSS against the
<= 1 GB goal. Redis is left out (it is shared with other programs on this machine).
"""

import argparse
import io
import json
import os
import random
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "toolkitrag.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ["TASKS_BACKEND"] = "database"  # ingestion is queued here and run by the task worker

from concurrency import children, logged_in, memory_kb, start_app_processes  # noqa: E402
from ingest import WORDS  # noqa: E402
from throwaway_database import throwaway_database  # noqa: E402 - bench/ is on sys.path

GOAL_MB = 1024


def fresh_toolkit(seed: int) -> bytes:
    """60 sections of new text (about 250 words each): the embedding cache holds none of it."""
    from toolkitrag.testing.docx_factory import make_docx

    rng = random.Random(seed)
    spec = []
    for section in range(60):
        spec.append(("h1", f"{section + 1} {' '.join(rng.choices(WORDS, k=3)).title()}"))
        spec.append(("p", " ".join(rng.choices(WORDS, k=250)) + "."))
    return make_docx(spec)


def ask_all(url: str, questions: list[str], clients: int) -> int:
    """Ask every question once over `clients` connections at once; returns the answers received."""
    answered = []

    def client(mine: list[str]) -> None:
        opener, csrf = logged_in(url)
        headers = {"Content-Type": "application/json", "X-CSRFToken": csrf, "Referer": url}
        for question in mine:
            body = json.dumps({"query": question}).encode()
            request = urllib.request.Request(url + "/api/rag/answer", data=body, headers=headers)
            answered.append(json.loads(opener.open(request, timeout=120).read()))

    threads = [threading.Thread(target=client, args=(questions[i::clients],)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(answered)


def measure(backend: str, tmp: Path, questions: list[str], seed: int) -> dict:
    from django.conf import settings

    from toolkit import uploads
    from toolkit.models import Toolkit, ToolkitVersion
    from toolkit.tasks import enqueue_ingestion
    from toolkitrag.embedded_db import server

    database_url = server.ensure_running(tmp / "pgdata").database_url("toolkitrag")
    runtime = "sentence-transformers" if backend == "sentence-transformers" else "onnx"
    gunicorn, worker, url = start_app_processes(
        {
            "DATABASE_URL": database_url, "CHAT_BACKEND": "none", "HF_HUB_OFFLINE": "1",
            "EMBEDDING_BACKEND": "none" if backend == "none" else "local", "EMBEDDING_LOCAL_RUNTIME": runtime,
            "EMBEDDING_MODEL": settings.LOCAL_MODEL_NAME[runtime],  # the runtime's own model name
        }
    )  # fmt: skip
    try:
        version = uploads.create_version(
            toolkit=Toolkit.objects.get_or_create(name=f"Memory {backend}")[0],
            version_tag="1",
            stream=io.BytesIO(fresh_toolkit(seed)),
            filename="memory.docx",
        )
        enqueue_ingestion(version)
        started = time.monotonic()
        answers = ask_all(url, questions, clients=4)
        while version.status not in (ToolkitVersion.Status.READY, ToolkitVersion.Status.FAILED):
            if time.monotonic() - started > 1800:
                raise RuntimeError("the task worker did not finish ingesting in 30 minutes")
            time.sleep(1)
            version.refresh_from_db()
        if version.status != ToolkitVersion.Status.READY:
            raise RuntimeError(f"ingestion failed: {version.error}")
        time.sleep(2)  # let the worker settle after the task
        postmaster = int((tmp / "pgdata" / "postmaster.pid").read_text().split()[0])
        workers = children(gunicorn.pid)

        def mb(pids: list[int], field: str) -> float:
            return round(sum(memory_kb(pid, field) for pid in pids) / 1024, 1)

        processes = {
            "gunicorn master": [gunicorn.pid],
            **{f"gunicorn worker {i + 1}": [pid] for i, pid in enumerate(workers)},
            "task worker": [worker.pid, *children(worker.pid)],
            "PostgreSQL (all processes)": [postmaster, *children(postmaster)],
        }
        rows = {
            name: {"rss_mb": mb(pids, "VmRSS"), "pss_mb": mb(pids, "Pss")} for name, pids in processes.items()
        }
        return {
            "backend": backend,
            "embedding_model": version.embedding_model,
            "answers": answers,
            "ingested_chunks": version.chunk_count,
            "ingest_seconds": round((version.finished_at - version.started_at).total_seconds(), 1),
            "processes": rows,
            "total_pss_mb": round(sum(row["pss_mb"] for row in rows.values()), 1),
            "total_rss_mb": round(sum(row["rss_mb"] for row in rows.values()), 1),
        }
    finally:
        for process in (gunicorn, worker):
            process.terminate()
            process.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--questions", type=int, default=60)
    parser.add_argument("--backends", nargs="+", default=["none", "local"])
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "memory.json")
    args = parser.parse_args()
    questions = [
        json.loads(line)["question"]
        for line in (ROOT / "bench" / "demo_questions.jsonl").read_text().splitlines()
        if line.strip()
    ][: args.questions]

    results = []
    with throwaway_database() as tmp:
        from django.core.management import call_command
        from django.db import connections

        from accounts.models import User

        if args.chunks:
            from latency import build

            build(args.chunks, 384)
        from django.conf import settings

        settings.EMBEDDING_BACKEND, settings.EMBEDDING_MODEL = "local", "all-MiniLM-L6-v2-int8"
        call_command(
            "ingest", str(ROOT / "demo" / "community-resilience-toolkit.docx"), "--toolkit", "Demo",
            "--version-tag", "1", "--activate", stdout=open(os.devnull, "w"),  # noqa: SIM115
        )  # fmt: skip
        User.objects.create_user("bench", "bench@example.org", "bench-pass-123")
        connections.close_all()
        for seed, backend in enumerate(args.backends):
            results.append(measure(backend, tmp, questions, seed))
            print(json.dumps(results[-1]), flush=True)
            connections.close_all()

    print(
        f"\n{args.chunks:,} synthetic chunks + the demo toolkit; {len(questions)} questions asked by 4 clients;"
    )
    print("the task worker ingested a 60-section toolkit meanwhile. MB (PSS: shared pages split).\n")
    names = list(results[0]["processes"])
    print(f"{'process':28}" + "".join(f"{r['backend'] + ' RSS':>28}{'PSS':>8}" for r in results))
    for name in names:
        print(f"{name:28}" + "".join(
            f"{r['processes'].get(name, {}).get('rss_mb', '-'):>28}{r['processes'].get(name, {}).get('pss_mb', '-'):>8}"
            for r in results
        ))  # fmt: skip
    print(f"{'whole stack':28}" + "".join(f"{r['total_rss_mb']:>28}{r['total_pss_mb']:>8}" for r in results))
    for r in results:
        verdict = "within" if r["total_pss_mb"] <= GOAL_MB else "OVER"
        print(f"{r['backend']}: whole stack {r['total_pss_mb']} MB PSS, {verdict} the {GOAL_MB} MB goal; "
              f"worker ingested {r['ingested_chunks']} chunks in {r['ingest_seconds']} s ({r['embedding_model'] or 'no vectors'})")  # fmt: skip
    args.json.write_text(
        json.dumps({"chunks": args.chunks, "questions": len(questions), "runs": results}, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
