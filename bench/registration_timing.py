"""Does registering, or asking for a password reset, take as long for an address that has an
account as for one that has none? (issue 16: "same response and similar timing either way")

    .venv/bin/python bench/registration_timing.py [--runs 200] [--json bench/results/registration_timing.json]

Starts a throwaway embedded PostgreSQL and a real SMTP server on loopback (aiosmtpd, from
requirements-dev.txt), creates one account, then alternates POSTs to /auth/register and
/auth/password_reset for its address and for fresh addresses (Django's test client in-process,
rate limits off), and reports the median and 95th percentile of each path. Each path sends one
message through the SMTP server, so a visitor timing the page learns nothing from it.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "toolkitrag.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

from throwaway_database import throwaway_database  # noqa: E402 - bench/ is on sys.path


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="requests per path")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    with throwaway_database():
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.test import Client

        from toolkitrag.testing.smtp_server import SmtpServer

        smtp = SmtpServer().start()
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp.port
        settings.RATE_LIMIT_ENABLED = False
        settings.REGISTRATION_MODE = "open"
        settings.ALLOWED_HOSTS = ["testserver"]
        get_user_model().objects.create_user("owner", "owner@example.org", "bench-password-123")
        paths = {
            ("register", "has an account"): ("/auth/register", lambda n: "owner@example.org"),
            ("register", "has none"): ("/auth/register", lambda n: f"new{n}@example.org"),
            ("password reset", "has an account"): ("/auth/password_reset", lambda n: "owner@example.org"),
            ("password reset", "has none"): ("/auth/password_reset", lambda n: f"new{n}@example.org"),
        }
        times: dict[tuple[str, str], list[float]] = {key: [] for key in paths}
        client = Client()
        for n in range(args.runs + 10):
            for key, (url, address) in paths.items():  # interleaved: drift hits every path alike
                start = time.perf_counter()
                response = client.post(url, {"email": address(n)})
                elapsed = time.perf_counter() - start
                assert response.status_code in (200, 302), (key, response.status_code)
                if n >= 10:  # the first requests warm caches and connections
                    times[key].append(elapsed)
        mails = len(smtp.messages)
        smtp.stop()

    figures = {f"{form}, address {which}": summary(values) for (form, which), values in times.items()}
    result = {"runs": args.runs, "mails_sent": mails, "figures": figures}
    for name, figure in figures.items():
        print(f"{name:40} median {figure['median_ms']:7.2f} ms   p95 {figure['p95_ms']:7.2f} ms")
    print(f"{mails} mails through the loopback SMTP server (one per request)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
