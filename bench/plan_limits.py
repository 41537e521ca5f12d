"""How long do a plan's page, exports and duplicate take at the caps, against the plan of issue 18?

    .venv/bin/python bench/plan_limits.py [--runs 3] [--json bench/results/plan_limits.json]

Starts a throwaway embedded PostgreSQL, ingests the demo toolkit (its sections are what items
cite), then builds for one user, in bulk SQL and past the caps:
- "issue 18": the plan that was reported, 200 items x 10 KB of text x 20 citations each;
- "at the caps": the largest plan the caps allow (PLAN_MAX_ITEMS_PER_PLAN items of
  PLAN_MAX_TEXT_CHARS characters, PLAN_MAX_CITATIONS_PER_ITEM citations each), its owner holding
  PLAN_MAX_PLANS_PER_USER plans in all.
Each page, export and duplicate is requested --runs times in-process (Django's test client, rate
limits off) and the median and slowest times are reported. The issue measured 3-5 s for each.
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

ISSUE_PLAN = {"items": 200, "text_chars": 10_000, "citations": 20}


def ingest_demo_toolkit() -> list:
    from toolkit import ingestion, uploads
    from toolkit.models import Chunk, Toolkit

    kit = Toolkit.objects.create(name="Community Resilience Toolkit")
    with open(ROOT / "demo" / "community-resilience-toolkit.docx", "rb") as stream:
        version = uploads.create_version(
            toolkit=kit, version_tag="2026.1", stream=stream, filename="kit.docx", activate=True
        )
    ingestion.ingest(version)
    return list(Chunk.objects.select_related("document__toolkit").order_by("pk"))


def build_plan(owner, title: str, items: int, text_chars: int, citations: int, chunks: list):
    """A plan of `items` actions of `text_chars` characters, each citing `citations` sections."""
    from strategies.citations import citations_from_chunks
    from strategies.models import ItemCitation, PlanItem, StrategyPlan

    plan = StrategyPlan.objects.create(owner=owner, title=title, summary="Built by bench/plan_limits.py")
    words = "Recruit a flood warden for every street and check the sandbag store. "
    text = (words * (text_chars // len(words) + 1))[:text_chars]
    rows = PlanItem.objects.bulk_create(
        [
            PlanItem(plan=plan, position=i, kind="action", text=text, owner_name="Sam", status="todo")
            for i in range(items)
        ]
    )
    snapshots = []
    for i, item in enumerate(rows):
        cited = [chunks[(i + k) % len(chunks)] for k in range(citations)]
        snapshots += citations_from_chunks(item, cited)
    ItemCitation.objects.bulk_create(snapshots, batch_size=5000)
    return plan


def timed(client, method: str, url: str, runs: int, after=None) -> dict:
    times, size = [], 0
    for _ in range(runs):
        began = time.perf_counter()
        response = getattr(client, method)(url)
        size = len(response.content)
        times.append((time.perf_counter() - began) * 1000)
        assert response.status_code in (200, 201, 302), (url, response.status_code)
        if after:
            after(response)
    return {"p50_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1), "bytes": size}


def measure(client, plan, runs: int) -> dict:
    from strategies.models import StrategyPlan

    def drop_copy(response) -> None:  # keep the owner's plan count where it was
        StrategyPlan.objects.filter(owner=plan.owner, title=f"Copy of {plan.title}").delete()

    return {
        "plan page": timed(client, "get", f"/strategies/{plan.pk}", runs),
        "API plan (JSON)": timed(client, "get", f"/api/plans/{plan.pk}/", runs),
        "export .docx": timed(client, "get", f"/strategies/{plan.pk}/export.docx", runs),
        "export Markdown": timed(client, "get", f"/strategies/{plan.pk}/export.md", runs),
        "duplicate": timed(client, "post", f"/strategies/{plan.pk}/duplicate", runs, drop_copy),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--scale", type=float, default=1.0, help="shrink both plans (smoke tests)")
    args = parser.parse_args()

    with throwaway_database():
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.test import Client

        from strategies.models import StrategyPlan

        settings.RATE_LIMIT_ENABLED = False
        caps = {
            "plans_per_user": settings.PLAN_MAX_PLANS_PER_USER,
            "items": max(1, int(settings.PLAN_MAX_ITEMS_PER_PLAN * args.scale)),
            "text_chars": settings.PLAN_MAX_TEXT_CHARS,
            "citations": settings.PLAN_MAX_CITATIONS_PER_ITEM,
        }
        issue = {**ISSUE_PLAN, "items": max(1, int(ISSUE_PLAN["items"] * args.scale))}
        chunks = ingest_demo_toolkit()
        User = get_user_model()
        at_caps_user = User.objects.create_user("bench-at-caps", "caps@example.org", "bench-pass-123")
        issue_user = User.objects.create_user("bench-issue", "issue@example.org", "bench-pass-123")
        plans = {
            "issue 18": build_plan(issue_user, "Issue 18 plan", chunks=chunks, **issue),
            "at the caps": build_plan(
                at_caps_user,
                "Largest allowed plan",
                caps["items"],
                caps["text_chars"],
                caps["citations"],
                chunks,
            ),
        }
        StrategyPlan.objects.bulk_create(
            [StrategyPlan(owner=at_caps_user, title=f"Plan {i}") for i in range(caps["plans_per_user"] - 1)]
        )
        # The duplicate being measured is deleted after each run; let it past the plans cap meanwhile.
        settings.PLAN_MAX_PLANS_PER_USER = caps["plans_per_user"] + 1
        figures = {}
        for label, plan in plans.items():
            client = Client(HTTP_HOST="localhost")
            client.force_login(plan.owner)
            client.get(f"/strategies/{plan.pk}")  # warm: templates compiled, connection open
            figures[label] = measure(client, plan, args.runs)
        at_caps_client = Client(HTTP_HOST="localhost")
        at_caps_client.force_login(at_caps_user)
        figures["at the caps"]["plan list (all plans)"] = timed(
            at_caps_client, "get", "/strategies", args.runs
        )

    shapes = {
        "issue 18": f"{issue['items']} items x {issue['text_chars']:,} chars x {issue['citations']} citations",
        "at the caps": f"{caps['items']} items x {caps['text_chars']:,} chars x {caps['citations']} citations, "
        f"{caps['plans_per_user']} plans",
    }
    print(f"{args.runs} runs each, in-process, rate limits off\n")
    for label, pages in figures.items():
        print(f"{label}: {shapes[label]}")
        print(f"  {'request':<22} {'p50 ms':>8} {'max ms':>8} {'bytes':>11}")
        for name, figure in pages.items():
            print(f"  {name:<22} {figure['p50_ms']:>8} {figure['max_ms']:>8} {figure['bytes']:>11,}")
        print()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"runs": args.runs, "caps": caps, "shapes": shapes, "figures": figures}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
