"""What an API token costs per call: the SHA-256 lookup against a slow password hash, and an API
request by token against the same request by session.

    .venv/bin/python bench/api_tokens.py [--tokens 10000] [--runs 200] [--json bench/results/api_tokens.json]

Starts a throwaway embedded PostgreSQL, stores --tokens tokens (so the lookup runs against a
table of that size, through its unique index on the hash), then times in-process:
- `authenticate_token` (shape check, SHA-256, one indexed SELECT; last_used_at is written at most
  once a minute, so after the first call not at all);
- what PBKDF2, Django's password hasher at its default iterations, would cost instead per call
  (`check_password` of one stored hash; a salted hash also could not be looked up by index);
- GET /api/rag/conversations with a Bearer token and with a session cookie (Django's test client).
Each figure is the median and the slowest of --runs calls (PBKDF2: a tenth of them, at least 3).
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


def timed(call, runs: int) -> dict:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        call()
        times.append((time.perf_counter() - began) * 1000)
    return {"p50_ms": round(statistics.median(times), 3), "max_ms": round(max(times), 3), "runs": runs}


def store_tokens(user, count: int) -> None:
    """`count` tokens as issue_token would store them, in bulk (issuing one by one takes minutes)."""
    from accounts.api_tokens import fill_new_token
    from accounts.models import ApiToken

    rows = []
    for n in range(count):
        token = ApiToken(user=user, name=f"bench {n}")
        fill_new_token(token, None)
        rows.append(token)
    ApiToken.objects.bulk_create(rows, batch_size=5000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    with throwaway_database():
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.contrib.auth.hashers import check_password, get_hasher, make_password
        from django.test import Client

        from accounts.api_tokens import authenticate_token, issue_token

        settings.RATE_LIMIT_ENABLED = False
        User = get_user_model()
        others = User.objects.create_user("bench-others", "others@example.org", None)
        store_tokens(others, max(args.tokens - 1, 0))
        user = User.objects.create_user("bench", "bench@example.org", None)
        _, plaintext = issue_token(user, "bench")
        stored_password = make_password(plaintext)
        hasher = get_hasher()

        by_token = Client(HTTP_HOST="localhost", headers={"Authorization": f"Bearer {plaintext}"})
        by_session = Client(HTTP_HOST="localhost")
        by_session.force_login(user)
        for client in (by_token, by_session):  # warm: connection open, URLconf loaded
            assert client.get("/api/rag/conversations").status_code == 200

        def get(client):
            return lambda: client.get("/api/rag/conversations")

        figures = {
            "authenticate_token (SHA-256 + indexed lookup)": timed(
                lambda: authenticate_token(plaintext), args.runs
            ),
            f"{hasher.algorithm} check_password ({getattr(hasher, 'iterations', '?'):,} iterations)": timed(
                lambda: check_password(plaintext, stored_password), max(3, args.runs // 10)
            ),
            "GET /api/rag/conversations, Bearer token": timed(get(by_token), args.runs),
            "GET /api/rag/conversations, session cookie": timed(get(by_session), args.runs),
        }

    print(f"{args.tokens:,} tokens stored; in-process, rate limits off\n")
    print(f"  {'what':<52} {'p50 ms':>9} {'max ms':>9} {'runs':>5}")
    for name, figure in figures.items():
        print(f"  {name:<52} {figure['p50_ms']:>9} {figure['max_ms']:>9} {figure['runs']:>5}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"tokens": args.tokens, "figures": figures}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
