"""How many streamed answers can gunicorn serve at once? Sync workers vs gthread.

    .venv/bin/python bench/concurrency.py [--streams 20] [--token-delay 0.1]

Starts a throwaway embedded PostgreSQL with the demo toolkit, the local fake LLM (each answer
streams ~20 tokens, token-delay seconds apart), and gunicorn with deploy/gunicorn.conf.py,
once as sync workers and once as configured (gthread); then opens --streams streamed answers
at the same moment and reports wall-clock time and time to first token.
"""

import argparse
import http.cookiejar
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "toolkitrag.settings")

from throwaway_database import throwaway_database  # noqa: E402 - bench/ is on sys.path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen) -> None:
    for _ in range(300):
        try:
            urllib.request.urlopen(url + "/health", timeout=1)
            return
        except OSError:
            if process.poll() is not None:
                raise RuntimeError("gunicorn exited") from None
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not start")


def logged_in_opener(url: str) -> tuple[urllib.request.OpenerDirector, str]:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(url + "/auth/login").read().decode()
    token = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    data = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token, "username": "bench", "password": "bench-pass-123"}
    )
    opener.open(urllib.request.Request(url + "/auth/login", data=data.encode(), headers={"Referer": url}))
    csrf = next(c.value for c in jar if c.name == "csrftoken")
    return opener, csrf


def stream_answer(opener, url: str, csrf: str, results: list, start: threading.Event) -> None:
    body = json.dumps({"query": "How often is the budget reviewed?"}).encode()
    request = urllib.request.Request(
        url + "/api/rag/answer/stream",
        data=body,
        headers={"Content-Type": "application/json", "X-CSRFToken": csrf, "Referer": url},
    )
    start.wait()
    began = time.perf_counter()
    first = None
    with opener.open(request, timeout=300) as response:
        for line in response:
            if first is None and line.startswith(b"event: token"):
                first = time.perf_counter() - began
    results.append((first, time.perf_counter() - began))


def measure(url: str, streams: int) -> dict:
    opener, csrf = logged_in_opener(url)
    results: list = []
    start = threading.Event()
    threads = [
        threading.Thread(target=stream_answer, args=(opener, url, csrf, results, start))
        for _ in range(streams)
    ]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    start.set()
    for thread in threads:
        thread.join()
    firsts = sorted(r[0] for r in results if r[0] is not None)
    return {
        "streams": len(results),
        "wall_s": round(time.perf_counter() - began, 2),
        "first_token_p50_s": round(statistics.median(firsts), 2),
        "first_token_max_s": round(firsts[-1], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--token-delay", type=float, default=0.1)
    args = parser.parse_args()

    with throwaway_database() as tmp:
        from django.core.management import call_command

        from accounts.models import User
        from toolkitrag.embedded_db import server
        from toolkitrag.testing.fake_openai import FakeOpenAI

        call_command(
            "ingest", str(ROOT / "demo" / "community-resilience-toolkit.docx"), "--toolkit", "Demo",
            "--version-tag", "1", stdout=open(os.devnull, "w"),  # noqa: SIM115
        )  # fmt: skip
        User.objects.create_user("bench", "bench@example.org", "bench-pass-123")
        fake = FakeOpenAI().start()
        fake.token_delay = args.token_delay
        fake.chat_reply = lambda messages: " ".join(["word"] * 19) + " [1]."
        database_url = server.ensure_running(tmp / "pgdata").database_url("toolkitrag")
        from django.db import connections

        connections.close_all()
        for label, extra in (
            ("sync, 2 workers", ["--worker-class", "sync", "--threads", "1"]),
            ("gthread (deploy config)", []),
        ):
            port = free_port()
            env = {
                **os.environ, "DATABASE_URL": database_url, "CHAT_BACKEND": "openai",
                "OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": "bench", "CHAT_MODEL": "bench",
                "RATE_LIMIT_ENABLED": "false", "LOG_LEVEL": "WARNING", "GUNICORN_BIND": f"127.0.0.1:{port}",
            }  # fmt: skip
            process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py"), *extra,
                 "toolkitrag.wsgi"],
                cwd=ROOT, env=env, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            try:
                url = f"http://127.0.0.1:{port}"
                wait_until_up(url, process)
                print(f"{label}: {json.dumps(measure(url, args.streams))}")
            finally:
                process.terminate()
                process.wait(30)
        fake.stop()


if __name__ == "__main__":
    main()
