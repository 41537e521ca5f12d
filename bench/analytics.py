"""How fast are the admin's analytics pages with a big chat log?

    .venv/bin/python bench/analytics.py [--messages 100000] [--runs 5] [--json bench/results/analytics.json]

Starts a throwaway embedded PostgreSQL, ingests the demo toolkit (two versions, the second made
active half-way), seeds --messages questions over 120 days in one SQL statement (50 users, 80%
answered, 1-3 cited sections, a nearest section for a third, feedback on 10%, comments on some),
then renders each analytics page --runs times in-process as a superuser and reports the times.
Target: the overview renders in under 300 ms at 100k messages.
"""

import argparse
import datetime as dt
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

SEED_MESSAGES = """
WITH chunks AS (SELECT array_agg(id ORDER BY id) AS ids FROM toolkit_chunks WHERE document_id = %(v1)s),
     users AS (SELECT array_agg(id ORDER BY id) AS ids FROM users WHERE username LIKE 'bench-user-%%')
INSERT INTO chat_logs (conversation_id, user_id, query, rewritten_query, answer, answered, extractive,
    citations, cited_chunk_ids, document_ids, removed_citations, retrieval, top_k, backend,
    retrieval_ms, first_token_ms, total_ms, llm_ms, error, created_at)
SELECT c.id, c.user_id,
    (ARRAY['How often is the budget reviewed', 'Who opens the rest centre', 'What about parking',
           'How do we recruit volunteers', 'Where are the sandbags', 'Who keeps the phone tree'])[1 + i %% 6]
        || CASE WHEN i %% 7 = 0 THEN ' for topic ' || (i %% 400) ELSE '' END || '?',
    '', 'An answer [1].', i %% 5 <> 0, false, '[]'::jsonb,
    CASE WHEN i %% 5 <> 0 THEN ARRAY[chunks.ids[1 + i %% cardinality(chunks.ids)],
                                     chunks.ids[1 + (i * 7) %% cardinality(chunks.ids)]]::bigint[]
         ELSE '{}'::bigint[] END,
    CASE WHEN i %% 120 >= 60 THEN ARRAY[%(v1)s] ELSE ARRAY[%(v2)s] END::bigint[],
    '{}'::int[],
    CASE WHEN i %% 3 = 0
         THEN jsonb_build_array(jsonb_build_object('chunk_id', chunks.ids[1 + i %% cardinality(chunks.ids)],
                                                   'score', 0.5, 'keyword_rank', 1, 'vector_rank', 1))
         ELSE '[]'::jsonb END,
    5, 'extractive', 5 + i %% 40, 20 + i %% 300, 100 + i %% 3000, NULL, '',
    now() - (i %% 120) * interval '1 day' - (i %% 1440) * interval '1 minute'
FROM generate_series(1, %(n)s) AS i
CROSS JOIN chunks
JOIN conversations c ON c.id = (SELECT min(id) FROM conversations) + i %% %(conversations)s
"""

SEED_FEEDBACK = """
INSERT INTO feedback (message_id, user_id, rating, comment, created_at, updated_at)
SELECT m.id, m.user_id, CASE WHEN m.id % 3 = 0 THEN -1 ELSE 1 END,
       CASE WHEN m.id % 4 = 0 THEN 'Comment ' || m.id ELSE '' END, m.created_at, m.created_at
FROM chat_logs m WHERE m.id % 10 = 0
"""


def seed(messages: int) -> int:
    """Returns the id of the version made active second."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from rag.models import Conversation
    from toolkit import ingestion, uploads
    from toolkit.models import Toolkit, ToolkitVersion

    kit = Toolkit.objects.create(name="Community Resilience Toolkit")
    versions = []
    for tag in ("2026.1", "2026.2"):
        with open(ROOT / "demo" / "community-resilience-toolkit.docx", "rb") as stream:
            document = uploads.create_version(
                toolkit=kit, version_tag=tag, stream=stream, filename="kit.docx", activate=True
            )
        versions.append(ingestion.ingest(document))
    # As in real life: the first version went live when the log starts, the second half-way.
    ToolkitVersion.objects.filter(pk=versions[0].pk).update(
        activated_at=timezone.now() - dt.timedelta(days=120)
    )
    ToolkitVersion.objects.filter(pk=versions[1].pk).update(
        activated_at=timezone.now() - dt.timedelta(days=60)
    )
    User = get_user_model()
    users = User.objects.bulk_create(
        [User(username=f"bench-user-{i}", email=f"bench-{i}@example.org") for i in range(50)]
    )
    conversation_count = max(1, messages // 5)
    Conversation.objects.bulk_create(
        [
            Conversation(user=users[i % len(users)], title=f"Conversation {i}")
            for i in range(conversation_count)
        ],
        batch_size=5000,
    )
    with connection.cursor() as cursor:
        params = {
            "n": messages,
            "v1": versions[0].pk,
            "v2": versions[1].pk,
            "conversations": conversation_count,
        }
        cursor.execute(SEED_MESSAGES, params)
        cursor.execute(SEED_FEEDBACK)
        cursor.execute("ANALYZE")
    return versions[1].pk


def timed(client, url: str, runs: int) -> dict:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        response = client.get(url)
        if response.streaming:
            size = sum(len(part) for part in response.streaming_content)
        else:
            size = len(response.content)
        times.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return {"p50_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1), "bytes": size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    with throwaway_database():
        from django.contrib.auth import get_user_model
        from django.test import Client

        began = time.perf_counter()
        second_version = seed(args.messages)
        seeded_s = time.perf_counter() - began
        admin = get_user_model().objects.create_superuser(
            "bench-admin", "admin@example.org", "bench-pass-123"
        )
        client = Client(HTTP_HOST="localhost")
        client.force_login(admin)
        client.get("/admin/analytics/")  # warm: templates compiled, connections open

        pages = {
            "overview, last 30 days": "/admin/analytics/?days=30",
            "overview, last 90 days": "/admin/analytics/?days=90",
            "overview, one version": f"/admin/analytics/?days=90&version={second_version}",
            "versions before/after, 30 d": "/admin/analytics/versions/?days=30",
            "versions before/after, 90 d": "/admin/analytics/versions/?days=90",
            "feedback triage": "/admin/analytics/feedback/?days=90",
            "message log (admin list)": "/admin/rag/message/",
            "messages CSV, 90 days": "/admin/analytics/messages.csv?days=90",
        }
        figures = {label: timed(client, url, args.runs) for label, url in pages.items()}

    print(f"{args.messages:,} messages seeded in {seeded_s:.1f} s; {args.runs} runs per page\n")
    print(f"{'page':<28} {'p50 ms':>8} {'max ms':>8} {'bytes':>11}")
    for label, figure in figures.items():
        print(f"{label:<28} {figure['p50_ms']:>8} {figure['max_ms']:>8} {figure['bytes']:>11,}")
    target = figures["overview, last 30 days"]["p50_ms"]
    print(f"\noverview p50 {target} ms (target < 300 ms at 100k messages)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "messages": args.messages,
            "runs": args.runs,
            "seed_s": round(seeded_s, 1),
            "pages": figures,
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
