"""Load under faults' everyday cousin: 128 streaming chats for 60 s with a slow local LLM, plus
/health at a steady rate in the same minute, through gunicorn as configured in deploy/.

    .venv/bin/python bench/chat_load.py [--clients 128] [--seconds 60] [--answer-seconds 3]
        [--health-rate 20] [--warmup-seconds 15] [--json bench/results/chat_load.json]

A throwaway embedded PostgreSQL holds the demo toolkit; a local OpenAI-compatible server streams
each answer as 20 tokens over --answer-seconds; gunicorn runs with deploy/gunicorn.conf.py next to
a task worker. After a warm-up round (so that the baseline is a worker that has served answers,
not a freshly forked one), --clients clients each keep one streamed answer open (a new one as soon
as the last ends) for --seconds, while one client requests /health --health-rate times a second.
Worker RSS is sampled every second. Reported: answers, 5xx (streams and /health), other errors,
/health latency, worker RSS at the start, peak and end of the run and its growth.
Targets: 0 5xx; RSS growth under 10% over the run (docs/reliability.md).
"""

import argparse
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "toolkitrag.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import concurrency  # noqa: E402 - bench/ is on sys.path
from throwaway_database import throwaway_database  # noqa: E402


class HealthProbe:
    """GET /health at a steady rate until stopped; statuses and latencies kept."""

    def __init__(self, url: str, rate: float):
        self.url, self.interval = url + "/health", 1 / rate
        self.statuses: dict[int, int] = {}
        self.latency_ms: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        next_at = time.monotonic()
        while not self.stop.is_set():
            began = time.perf_counter()
            try:
                with urllib.request.urlopen(self.url, timeout=10) as response:
                    status = response.status
            except urllib.error.HTTPError as error:
                status = error.code
            except OSError:
                status = 0  # refused, reset or timed out
            self.latency_ms.append((time.perf_counter() - began) * 1000)
            self.statuses[status] = self.statuses.get(status, 0) + 1
            next_at += self.interval
            time.sleep(max(0.0, next_at - time.monotonic()))


def worker_rss_mb(gunicorn_pid: int) -> dict[int, float]:
    return {
        pid: round(concurrency.memory_kb(pid, "VmRSS") / 1024, 1)
        for pid in concurrency.children(gunicorn_pid)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=128)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--answer-seconds", type=float, default=3)
    parser.add_argument("--health-rate", type=float, default=20)
    parser.add_argument("--warmup-seconds", type=float, default=15)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    with throwaway_database() as tmp:
        fake, gunicorn, worker, url = concurrency.start_stack(tmp, args.answer_seconds)
        try:
            opener, csrf = concurrency.logged_in(url)
            idle = worker_rss_mb(gunicorn.pid)
            concurrency.Level(opener, url, csrf, args.clients, args.warmup_seconds).run()
            start = worker_rss_mb(gunicorn.pid)

            samples: list[dict[int, float]] = []
            probe = HealthProbe(url, args.health_rate)
            load = concurrency.Level(opener, url, csrf, args.clients, args.seconds)
            threads = [threading.Thread(target=probe.run), threading.Thread(target=load.run)]
            for thread in threads:
                thread.start()
            while threads[1].is_alive():
                samples.append(worker_rss_mb(gunicorn.pid))
                time.sleep(1)
            probe.stop.set()
            threads[0].join()
            end = worker_rss_mb(gunicorn.pid)
            restarted = set(end) != set(start)
        finally:
            for process in (gunicorn, worker):
                process.terminate()
                process.wait(30)
            fake.stop()

    stream_5xx = sum(1 for e in load.errors if "HTTP Error 5" in e)
    health_5xx = sum(n for status, n in probe.statuses.items() if status >= 500)
    growth = {pid: round((end[pid] / start[pid] - 1) * 100, 1) for pid in start if pid in end}
    peak = {pid: max(s.get(pid, 0) for s in samples) for pid in start}
    result = {
        "clients": args.clients, "seconds": args.seconds, "answer_seconds": args.answer_seconds,
        "answers": load.answers, "streams_held": load.most_open, "stream_5xx": stream_5xx,
        "other_stream_errors": len(load.errors) - stream_5xx, "first_errors": load.errors[:5],
        "first_token_p50_ms": concurrency.percentile(load.first_token_ms, 50),
        "first_token_p95_ms": concurrency.percentile(load.first_token_ms, 95),
        "health_requests": sum(probe.statuses.values()), "health_statuses": probe.statuses,
        "health_5xx": health_5xx, "health_p50_ms": concurrency.percentile(probe.latency_ms, 50),
        "health_p95_ms": concurrency.percentile(probe.latency_ms, 95), "health_max_ms": round(max(probe.latency_ms), 1),
        "worker_rss_idle_mb": list(idle.values()), "worker_rss_start_mb": list(start.values()),
        "worker_rss_peak_mb": list(peak.values()), "worker_rss_end_mb": list(end.values()),
        "worker_rss_growth_pct": list(growth.values()), "workers_restarted": restarted,
        "worker_rss_every_10s_mb": [list(sample.values()) for sample in samples[::10]],
    }  # fmt: skip
    print(json.dumps(result, indent=2))
    print(
        f"\n{args.clients} streaming chats for {args.seconds:g} s ({args.answer_seconds:g} s per answer) "
        f"+ /health at {args.health_rate:g}/s: {load.answers} answers, {stream_5xx + health_5xx} 5xx "
        f"({len(load.errors) - stream_5xx} other errors); /health p95 {result['health_p95_ms']} ms; "
        f"worker RSS {result['worker_rss_start_mb']} -> {result['worker_rss_end_mb']} MB "
        f"(growth {result['worker_rss_growth_pct']} %, target < 10 %)"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
