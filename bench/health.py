"""/health requests per second vs a bare Django hello-world, same gunicorn configuration, same run.

    .venv/bin/python bench/health.py [--seconds 15] [--connections 32] [--json bench/results/health.json]

Both apps run under deploy/gunicorn.conf.py (gthread, 2 workers x 64 threads) on a free local
port, one after the other, loaded by wrk (Debian's `wrk`) with 2 threads. ToolkitRAG's /health
goes through its whole middleware stack (request ids, JSON request log at DEBUG for probes,
security headers, sessions, CSRF, axes). Target: ratio >= 0.8.
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(app: str, settings: str, chdir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings, "GUNICORN_BIND": f"127.0.0.1:{port}",
           "LOG_LEVEL": "WARNING", "ALLOWED_HOSTS": "127.0.0.1,localhost"}  # fmt: skip
    process = subprocess.Popen(
        [str(GUNICORN), "-c", str(ROOT / "deploy" / "gunicorn.conf.py"), "--chdir", str(chdir), app],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(url + "/health", timeout=1)
            return process, url
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{app} did not start")


def load(url: str, seconds: int, connections: int) -> dict:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url + "/health"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    p99 = re.search(r"99%\s+([\d.]+\w+)", out)
    return {"requests_per_s": round(rps), "non_2xx": int(errors.group(1)) if errors else 0,
            "p99": p99.group(1) if p99 else None}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternate the two apps this many times; medians"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("needs wrk (apt-get install wrk)")
    runs: dict[str, list[dict]] = {}
    for _ in range(args.rounds):  # alternating, so that a noisy moment hits both apps alike
        for name, app, settings, chdir in [
            ("bare Django hello-world", "hello_django:application", "hello_django", ROOT / "bench"),
            ("ToolkitRAG /health", "toolkitrag.wsgi:application", "toolkitrag.settings", ROOT),
        ]:
            process, url = serve(app, settings, chdir)
            try:
                load(url, 2, args.connections)  # warm up
                runs.setdefault(name, []).append(load(url, args.seconds, args.connections))
            finally:
                process.terminate()
                process.wait(timeout=30)
    figures = {
        name: sorted(results, key=lambda r: r["requests_per_s"])[len(results) // 2]
        for name, results in runs.items()
    }
    ratio = (
        figures["ToolkitRAG /health"]["requests_per_s"] / figures["bare Django hello-world"]["requests_per_s"]
    )
    print(
        f"gunicorn: deploy/gunicorn.conf.py; wrk -t2 -c{args.connections} -d{args.seconds}s; median of {args.rounds}\n"
    )
    print(f"{'app':<26} {'req/s':>8} {'p99':>9} {'non-2xx':>8}")
    for name, f in figures.items():
        print(f"{name:<26} {f['requests_per_s']:>8} {f['p99'] or '':>9} {f['non_2xx']:>8}")
    print(f"\nratio {ratio:.2f} (target >= 0.8)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"figures": figures, "ratio": round(ratio, 3), "runs": runs}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
