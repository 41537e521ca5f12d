"""Streaming concurrency and memory: N chats streaming at once through gunicorn as deployed.

    .venv/bin/python bench/concurrency.py [--levels 32,64,128,192] [--seconds 60]
        [--answer-seconds 2] [--chunks 100000] [--json bench/results/concurrency.json]

A throwaway embedded PostgreSQL holds the demo toolkit plus --chunks synthetic chunks (384-dim
vectors, HNSW; see bench/latency.py), a local OpenAI-compatible server streams every answer as
20 tokens over --answer-seconds, and gunicorn runs with deploy/gunicorn.conf.py, next to a task
worker (`manage.py db_worker`). For each level N, N clients keep one streamed answer each open
(a new one as soon as the last ends) for --seconds. Reported per level: answers, errors, streams
held at once, time to first token p50/p95, app overhead p95 (total minus model time, from the
message records), worker RSS. Memory: RSS per worker idle and after the runs (thousands of
answers), and the whole stack's PSS (gunicorn + task worker + PostgreSQL).
Targets: >= 128 streams with 0 errors; <= 120 MB per worker; <= 1 GB in all.
"""

import argparse
import http.cookiejar
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "toolkitrag.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

from throwaway_database import throwaway_database  # noqa: E402 - bench/ is on sys.path

TOKENS = 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def deployed_environment() -> dict[str, str]:
    """The Environment= lines of deploy/toolkitrag.service, so gunicorn runs here as deployed."""
    unit = (ROOT / "deploy" / "toolkitrag.service").read_text()
    return dict(line.split("=", 2)[1:] for line in unit.splitlines() if line.startswith("Environment="))


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 1)


def memory_kb(pid: int, field: str) -> int:
    """VmRSS from status, or Pss from smaps_rollup, in kB (0 if the process is gone)."""
    path = f"/proc/{pid}/status" if field == "VmRSS" else f"/proc/{pid}/smaps_rollup"
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass
    return found


def wait_until_up(url: str, process: subprocess.Popen) -> None:
    for _ in range(600):
        try:
            urllib.request.urlopen(url + "/health", timeout=1)
            return
        except OSError:
            if process.poll() is not None:
                raise RuntimeError("gunicorn exited") from None
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not start")


def logged_in(url: str) -> tuple[urllib.request.OpenerDirector, str]:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(url + "/auth/login").read().decode()
    token = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    data = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token, "username": "bench", "password": "bench-pass-123"}
    )
    opener.open(urllib.request.Request(url + "/auth/login", data=data.encode(), headers={"Referer": url}))
    return opener, next(c.value for c in jar if c.name == "csrftoken")


def start_stack(tmp: Path, answer_seconds: float):
    """In the throwaway database: the demo toolkit and a user "bench"; then a local model that
    streams every answer as TOKENS tokens over `answer_seconds`, gunicorn as deployed (its
    config and the unit's environment) and a task worker. Returns (model, gunicorn, worker, url)."""
    from django.core.management import call_command
    from django.db import connections

    from accounts.models import User
    from toolkitrag.embedded_db import server
    from toolkitrag.testing.fake_openai import FakeOpenAI

    call_command(
        "ingest", str(ROOT / "demo" / "community-resilience-toolkit.docx"), "--toolkit", "Demo",
        "--version-tag", "1", "--activate", stdout=open(os.devnull, "w"),  # noqa: SIM115
    )  # fmt: skip
    User.objects.create_user("bench", "bench@example.org", "bench-pass-123")
    fake = FakeOpenAI().start()
    fake.token_delay = answer_seconds / TOKENS
    fake.chat_reply = lambda messages: " ".join(["word"] * (TOKENS - 1)) + " [1]."
    database_url = server.ensure_running(tmp / "pgdata").database_url("toolkitrag")
    connections.close_all()

    try:
        gunicorn, worker, url = start_app_processes(
            {
                "DATABASE_URL": database_url, "CHAT_BACKEND": "openai", "OPENAI_BASE_URL": fake.base_url,
                "OPENAI_API_KEY": "bench", "CHAT_MODEL": "bench", "EMBEDDING_BACKEND": "none",
            }
        )  # fmt: skip
    except RuntimeError:
        fake.stop()
        raise
    return fake, gunicorn, worker, url


def start_app_processes(overrides: dict[str, str]) -> tuple[subprocess.Popen, subprocess.Popen, str]:
    """gunicorn as deployed (its config and the unit's environment) and a task worker, with
    `overrides` on top; returns (gunicorn, worker, url) once gunicorn answers."""
    port = free_port()
    env = {
        **os.environ, **deployed_environment(), "RATE_LIMIT_ENABLED": "false", "LOG_LEVEL": "WARNING",
        "GUNICORN_BIND": f"127.0.0.1:{port}", "TASKS_BACKEND": "database",  # as in production
        **overrides,
    }  # fmt: skip
    gunicorn = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py"), "toolkitrag.wsgi"],
        cwd=ROOT, env=env, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "db_worker", "--no-reload"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, gunicorn)
    except RuntimeError:
        for process in (gunicorn, worker):
            process.terminate()
        raise
    return gunicorn, worker, url


class Level:
    """N clients, each streaming one answer after another until the deadline."""

    def __init__(self, opener, url: str, csrf: str, clients: int, seconds: float):
        self.opener, self.url, self.csrf = opener, url, csrf
        self.clients, self.deadline = clients, time.monotonic() + seconds
        self.lock = threading.Lock()
        self.open_now = self.most_open = self.answers = 0
        self.errors: list[str] = []
        self.first_token_ms: list[float] = []

    def stream_once(self) -> None:
        body = json.dumps({"query": "How often is the budget reviewed?"}).encode()
        request = urllib.request.Request(
            self.url + "/api/rag/answer/stream",
            data=body,
            headers={"Content-Type": "application/json", "X-CSRFToken": self.csrf, "Referer": self.url},
        )
        began = time.perf_counter()
        first, final = None, None
        with self.lock:
            self.open_now += 1
            self.most_open = max(self.most_open, self.open_now)
        try:
            with self.opener.open(request, timeout=60) as response:
                event = None
                for raw in response:
                    line = raw.decode().rstrip("\n")
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: ") and event == "token" and first is None:
                        first = (time.perf_counter() - began) * 1000
                    elif line.startswith("data: ") and event == "final":
                        final = json.loads(line[6:])
            if final is None or final.get("error"):
                raise RuntimeError(f"no clean final event: {final}")
            with self.lock:
                self.answers += 1
                self.first_token_ms.append(first)
        except Exception as error:  # every failure counts, whatever it is
            with self.lock:
                self.errors.append(f"{type(error).__name__}: {error}"[:200])
        finally:
            with self.lock:
                self.open_now -= 1

    def client(self) -> None:
        while time.monotonic() < self.deadline:
            self.stream_once()

    def run(self) -> None:
        threads = [threading.Thread(target=self.client, daemon=True) for _ in range(self.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="32,64,128,192")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--answer-seconds", type=float, default=2)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    levels = [int(n) for n in args.levels.split(",")]

    with throwaway_database() as tmp:
        from django.db.models import F

        from rag.models import Message

        if args.chunks:
            from latency import build

            build(args.chunks, 384)
        fake, gunicorn, worker, url = start_stack(tmp, args.answer_seconds)
        results, memory = [], {}
        try:
            opener, csrf = logged_in(url)
            Level(opener, url, csrf, 1, 0.1).run()  # one answer: every worker's code paths loaded
            workers = children(gunicorn.pid)
            memory["worker_rss_idle_mb"] = [round(memory_kb(pid, "VmRSS") / 1024, 1) for pid in workers]
            for clients in levels:
                since = Message.objects.count() and Message.objects.latest("pk").pk
                level = Level(opener, url, csrf, clients, args.seconds)
                level.run()
                overhead = list(
                    Message.objects.filter(pk__gt=since, llm_ms__isnull=False)
                    .annotate(overhead=F("total_ms") - F("llm_ms"))
                    .values_list("overhead", flat=True)
                )
                results.append({
                    "clients": clients, "answers": level.answers, "errors": len(level.errors),
                    "streams_held": level.most_open, "first_token_p50_ms": percentile(level.first_token_ms, 50),
                    "first_token_p95_ms": percentile(level.first_token_ms, 95),
                    "app_overhead_p95_ms": percentile(overhead, 95),
                    "worker_rss_mb": [round(memory_kb(pid, "VmRSS") / 1024, 1) for pid in children(gunicorn.pid)],
                    "first_errors": level.errors[:3],
                })  # fmt: skip
                print(json.dumps(results[-1]), flush=True)
            memory["answers_served"] = Message.objects.count()
            memory["worker_rss_after_mb"] = [
                round(memory_kb(pid, "VmRSS") / 1024, 1) for pid in children(gunicorn.pid)
            ]
            postmaster = int((tmp / "pgdata" / "postmaster.pid").read_text().split()[0])
            stack = {
                "gunicorn (master + workers)": [gunicorn.pid, *children(gunicorn.pid)],
                "task worker": [worker.pid, *children(worker.pid)],
                "PostgreSQL": [postmaster, *children(postmaster)],
            }
            memory["stack_pss_mb"] = {
                name: round(sum(memory_kb(pid, "Pss") for pid in pids) / 1024, 1)
                for name, pids in stack.items()
            }
            memory["stack_pss_total_mb"] = round(sum(memory["stack_pss_mb"].values()), 1)
        finally:
            for process in (gunicorn, worker):
                process.terminate()
                process.wait(30)
            fake.stop()

    clean = [r["clients"] for r in results if r["errors"] == 0]
    print(
        f"\n{args.answer_seconds:g} s per streamed answer, {args.seconds:g} s per level, {args.chunks:,} extra chunks\n"
    )
    print(
        f"{'clients':>7} {'answers':>8} {'errors':>7} {'held':>5} {'TTFT p50':>9} {'TTFT p95':>9} {'overhead p95':>13}"
    )
    for r in results:
        print(
            f"{r['clients']:>7} {r['answers']:>8} {r['errors']:>7} {r['streams_held']:>5} "
            f"{r['first_token_p50_ms']!s:>9} {r['first_token_p95_ms']!s:>9} {r['app_overhead_p95_ms']!s:>13}"
        )
    print(f"\nlargest N with 0 errors: {max(clean) if clean else 'none'} (target >= 128)")
    print(f"worker RSS idle {memory['worker_rss_idle_mb']} MB; after {memory['answers_served']} answers "
          f"{memory['worker_rss_after_mb']} MB (target <= 120 MB)")  # fmt: skip
    print(f"whole stack PSS {memory['stack_pss_total_mb']} MB {memory['stack_pss_mb']} (target <= 1024 MB)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"answer_seconds": args.answer_seconds, "seconds_per_level": args.seconds, "chunks": args.chunks,
                   "levels": results, "largest_clean_level": max(clean) if clean else None, "memory": memory}  # fmt: skip
        args.json.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
