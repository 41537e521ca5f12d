"""Retrieval latency at 10k, 100k (and 1M) chunks: hybrid p50/p95 through the app's `retrieve`,
vector top-10 with the HNSW index vs an exact scan, and HNSW recall@10 against exact; the keyword
side with candidates from the keyword index (tantivy) and with today's SQL path alone, its top-10
overlap with exhaustive BM25, the index's build time and size, and a worker's RSS with it open.

    .venv/bin/python bench/latency.py [--sizes 10000,100000] [--queries 100] [--dims 384]
        [--json bench/results/latency.json]

Synthetic data, generated inside PostgreSQL: each chunk has a 3-word heading and 60 words drawn
from a Zipf-like 20,000-word vocabulary, and a unit vector scattered around one of 1,000 random
topic centroids; chunks are indexed as
ingestion indexes them (generated tsvector + GIN, HNSW on the configured dimension). Queries are
3-5 vocabulary words and a vector near a random chunk's. Query vectors are handed to `retrieve`
directly (no embedding model runs). Targets: p95 <= 25 ms at 100k, <= 60 ms at 1M; recall@10 >= 0.97.
"""

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "toolkitrag.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

from throwaway_database import throwaway_database  # noqa: E402 - bench/ is on sys.path

VOCABULARY = 20_000
# Embeddings of real text cluster by topic; uniformly random vectors have no neighbours worth the
# name (every point is nearly equidistant) and would measure nothing useful.
CLUSTERS = 1_000

CENTROIDS = """
CREATE TEMP TABLE centroids AS
SELECT c AS id, (SELECT array_agg(random() - 0.5) FROM generate_series(1, %(dims)s) WHERE c >= 0) AS v
FROM generate_series(0, %(clusters)s - 1) AS c
"""

FILL = """
INSERT INTO toolkit_chunks (document_id, ordinal, heading_path, heading, text, token_count, block_start,
                            block_end, content_hash, embedding)
SELECT %(document)s, i, ARRAY[h], h, t, 60, i, i, md5(i::text), generated.v
FROM generate_series(%(first)s, %(last)s) AS i
CROSS JOIN LATERAL (SELECT v FROM centroids WHERE id = i %% %(clusters)s) AS c
CROSS JOIN LATERAL (
    SELECT (SELECT string_agg('w' || floor(power(random(), 3) * %(vocabulary)s)::int, ' ')
            FROM generate_series(1, 3) WHERE i >= 0) AS h,
           (SELECT string_agg('w' || floor(power(random(), 3) * %(vocabulary)s)::int, ' ')
            FROM generate_series(1, 60) WHERE i >= 0) AS t,
           (SELECT l2_normalize(array_agg(c.v[d] + 0.6 * (random() - 0.5))::vector)
            FROM generate_series(1, %(dims)s) AS d WHERE i >= 0) AS v
) AS generated
"""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def build(size: int, dims: int) -> int:
    """A ready, active version with `size` synthetic chunks; returns its id."""
    from django.db import connection

    from toolkit.models import Toolkit, ToolkitVersion
    from toolkit.search import record_term_statistics
    from toolkit.vector_index import ensure_index, index_name

    ToolkitVersion.objects.all().delete()
    document = ToolkitVersion.objects.create(
        toolkit=Toolkit.objects.get_or_create(name="Synthetic")[0],
        version_tag=str(size),
        sha256="-",
        status="ready",
        is_active=True,
    )
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '512MB'")
        cursor.execute(f"DROP INDEX IF EXISTS {index_name(dims)}")  # built once, after the rows are in
        cursor.execute("DROP TABLE IF EXISTS centroids")
        cursor.execute(CENTROIDS, {"dims": dims, "clusters": CLUSTERS})
        for first in range(0, size, 50_000):
            last = min(first + 50_000, size) - 1
            params = {
                "document": document.pk,
                "first": first,
                "last": last,
                "vocabulary": VOCABULARY,
                "dims": dims,
                "clusters": CLUSTERS,
            }
            cursor.execute(FILL, params)
    record_term_statistics(document)  # as ingestion does: chunk and term counts, per-term frequencies
    ToolkitVersion.objects.filter(pk=document.pk).update(
        chunk_count=document.chunk_count, term_total=document.term_total
    )
    ensure_index(dims)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE toolkit_chunks")
        cursor.execute("VACUUM ANALYZE toolkit_term_stats")
    return document.pk


def queries(count: int, dims: int) -> list[tuple[str, list[float]]]:
    """Query words and a vector close to some chunk's (as a real question is close to its answer)."""
    from django.db import connection

    found = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT embedding::text FROM toolkit_chunks ORDER BY random() LIMIT %s", [count])
        for (text,) in cursor.fetchall():
            base = json.loads(text)
            noisy = [x + random.gauss(0, 0.01) for x in base]
            norm = sum(x * x for x in noisy) ** 0.5
            words = " ".join(
                f"w{int(random.random() ** 3 * VOCABULARY)}" for _ in range(random.randint(3, 5))
            )
            found.append((words, [x / norm for x in noisy]))
    return found


def vector_top10(
    vector: list[float], dims: int, exact: bool, ef_search: int | None = None
) -> tuple[list[int], float]:
    from django.conf import settings
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        if exact:
            cursor.execute("SET LOCAL enable_indexscan = off")
        else:
            cursor.execute(
                f"SET LOCAL hnsw.ef_search = {int(ef_search or settings.RAG_HNSW_EF_SEARCH)}"
            )  # as retrieve()
        began = time.perf_counter()
        cursor.execute(
            f"SELECT id FROM toolkit_chunks WHERE vector_dims(embedding) = {dims} "
            f"ORDER BY embedding::vector({dims}) <=> %s::vector({dims}) LIMIT 10",
            [str(vector)],
        )
        ids = [row[0] for row in cursor.fetchall()]
        return ids, (time.perf_counter() - began) * 1000


def build_keyword_index() -> dict:
    """Build the active version's keyword index as ingestion does: seconds and size on disk."""
    from toolkit import keyword_index
    from toolkit.models import ToolkitVersion

    version = ToolkitVersion.objects.get(is_active=True)
    began = time.perf_counter()
    folder = keyword_index.build(version.pk)
    seconds = time.perf_counter() - began
    size = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
    return {"build_s": round(seconds, 1), "size_mb": round(size / 1e6, 1)}


def with_sql_path(asked: list[tuple[str, list[float]]]) -> dict:
    """Hybrid and keyword-only p50/p95 through `retrieve` with the keyword index turned off."""
    from django.conf import settings

    from rag import retrieval

    hybrid, keyword = [], []
    settings.KEYWORD_CANDIDATES, candidates = 0, settings.KEYWORD_CANDIDATES
    try:
        for words, _ in asked:
            began = time.perf_counter()
            retrieval.retrieve(words, top_k=10)
            hybrid.append((time.perf_counter() - began) * 1000)
            began = time.perf_counter()
            retrieval.retrieve(words, top_k=10, retrievers=("keyword",))
            keyword.append((time.perf_counter() - began) * 1000)
    finally:
        settings.KEYWORD_CANDIDATES = candidates
    return {"hybrid, SQL path": p50_p95(hybrid), "keyword only, SQL path": p50_p95(keyword)}


def keyword_overlap(asked: list[tuple[str, list[float]]]) -> dict:
    """Top-10 overlap with exhaustive BM25 (every matching chunk scored, no pruning), of the keyword
    side with index candidates and of today's SQL path (which prunes common terms above 20k)."""
    from toolkit import keyword_index, search

    indexed, pruned = [], []
    for words, _ in asked:
        truth = [hit.chunk_id for hit in search.keyword_search(words, None, 10, exhaustive=True)]
        if not truth:
            continue
        found = search.keyword_search(words, None, 10, keyword_index.candidates(words, None))
        indexed.append(len({hit.chunk_id for hit in found} & set(truth)) / len(truth))
        found = search.keyword_search(words, None, 10)
        pruned.append(len({hit.chunk_id for hit in found} & set(truth)) / len(truth))
    return {
        "keyword_top10_overlap": round(statistics.mean(indexed), 4) if indexed else None,
        "keyword_top10_overlap_sql_path": round(statistics.mean(pruned), 4) if pruned else None,
    }


# Run in a fresh process, as a gunicorn worker: load the app, answer keyword questions (opening
# the index), report memory. RssFile counts the index's pages mapped in; they are shared with
# every other worker through the page cache (Pss splits shared pages between the processes).
WORKER_PROBE = """
import json, sys
from django.core.wsgi import get_wsgi_application

def memory():
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    rollup = dict(line.split(":", 1) for line in open("/proc/self/smaps_rollup").readlines()[1:])
    return {name.lower() + "_mb": round(int(value.split()[0]) / 1024, 1)
            for name, value in [*status.items(), *rollup.items()] if name in ("VmRSS", "RssAnon", "RssFile", "Pss")}

get_wsgi_application()
from rag.retrieval import retrieve
before = memory()
for words in json.load(sys.stdin):
    retrieve(words, top_k=10, retrievers=("keyword",))
print(json.dumps({"app_loaded": before, "index_open": memory()}))
"""


def worker_memory(asked: list[tuple[str, list[float]]]) -> dict:
    """Memory of a process that loads the app and answers the questions from the keyword index."""
    env = {**os.environ, "EMBEDDING_BACKEND": "none", "LOG_LEVEL": "WARNING"}
    words = json.dumps([w for w, _ in asked])
    done = subprocess.run(
        [sys.executable, "-c", WORKER_PROBE], input=words, env=env, cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode:
        raise RuntimeError(f"the worker probe failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def p50_p95(values: list[float]) -> dict:
    return {"p50_ms": round(percentile(values, 50), 1), "p95_ms": round(percentile(values, 95), 1)}


def measure(size: int, count: int, dims: int, ef_values: list[int]) -> dict:
    from rag import retrieval

    started = time.perf_counter()
    build(size, dims)
    build_s = time.perf_counter() - started
    keyword_index = build_keyword_index()
    asked = queries(count, dims)
    vectors = dict(asked)
    retrieval.embed_query = vectors.__getitem__  # the synthetic query vectors stand in for a model
    hybrid, keyword, hnsw, exact, recall = [], [], [], [], []
    by_ef = {ef: ([], []) for ef in ef_values}  # ef_search -> (ms, recall@10)
    for words, vector in asked:
        began = time.perf_counter()
        retrieval.retrieve(words, top_k=10)
        hybrid.append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        retrieval.retrieve(words, top_k=10, retrievers=("keyword",))
        keyword.append((time.perf_counter() - began) * 1000)
        approximate, ms = vector_top10(vector, dims, exact=False)
        hnsw.append(ms)
        truth, ms = vector_top10(vector, dims, exact=True)
        exact.append(ms)
        recall.append(len(set(approximate) & set(truth)) / len(truth))
        for ef, (times, recalls) in by_ef.items():
            found, ms = vector_top10(vector, dims, exact=False, ef_search=ef)
            times.append(ms)
            recalls.append(len(set(found) & set(truth)) / len(truth))
    sql_path, overlap, memory = with_sql_path(asked), keyword_overlap(asked), worker_memory(asked)

    def summary(values: list[float]) -> dict:
        return {"p50_ms": round(percentile(values, 50), 1), "p95_ms": round(percentile(values, 95), 1)}

    return {
        "chunks": size,
        "build_s": round(build_s, 1),
        "hybrid": summary(hybrid),
        "keyword only": summary(keyword),
        **sql_path,
        **overlap,
        "keyword_index": keyword_index,
        "worker_memory": memory,
        "vector top-10, HNSW": summary(hnsw),
        "vector top-10, exact": summary(exact),
        "hnsw_recall@10": round(statistics.mean(recall), 4),
        "hnsw_by_ef_search": {
            str(ef): {**summary(times), "recall@10": round(statistics.mean(recalls), 4)}
            for ef, (times, recalls) in by_ef.items()
        },
    }


def print_keyword_figures(results: list[dict]) -> None:
    print(
        f"{'chunks':>9} {'hybrid p50/p95 ms':>18} {'keyword p50/p95':>16} {'SQL path: hybrid':>17} "
        f"{'keyword':>16} {'top-10 overlap':>15} {'(SQL path)':>10} {'index build s':>13} {'MB':>6} "
        f"{'worker RSS / Pss MB':>19}"
    )
    for r in results:
        mem = r["worker_memory"]["index_open"]
        cells = [
            f"{r[c]['p50_ms']} / {r[c]['p95_ms']}"
            for c in ("hybrid", "keyword only", "hybrid, SQL path", "keyword only, SQL path")
        ]
        print(
            f"{r['chunks']:>9,} {cells[0]:>18} {cells[1]:>16} {cells[2]:>17} {cells[3]:>16} "
            f"{r['keyword_top10_overlap']!s:>15} {r['keyword_top10_overlap_sql_path']!s:>10} "
            f"{r['keyword_index']['build_s']:>13} {r['keyword_index']['size_mb']:>6} "
            f"{mem['vmrss_mb']:>10} / {mem['pss_mb']:<7}"
        )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--dims", type=int, default=384)
    parser.add_argument("--ef-search", default="", help="also measure HNSW top-10 at these ef_search values")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    ef_values = [int(v) for v in args.ef_search.split(",") if v]
    os.environ["EMBEDDING_DIMENSIONS"] = str(args.dims)
    os.environ["KEYWORD_INDEX_DIR"] = tempfile.mkdtemp(prefix="latency-keyword-index-")
    random.seed(7)
    results = []
    with throwaway_database():
        from django.conf import settings

        settings.EMBEDDING_DIMENSIONS = args.dims
        for size in (int(s) for s in args.sizes.split(",")):
            results.append(measure(size, args.queries, args.dims, ef_values))
            print(f"{size:,} chunks measured", flush=True)
    shutil.rmtree(os.environ["KEYWORD_INDEX_DIR"], ignore_errors=True)
    print(f"\n{args.queries} queries per size, {args.dims}-dim vectors, top 10\n")
    columns = ["hybrid", "keyword only", "vector top-10, HNSW", "vector top-10, exact"]
    print_keyword_figures(results)
    print(
        f"{'chunks':>9} {'build s':>8} "
        + " ".join(f"{c + ' p50/p95 ms':>30}" for c in columns)
        + "  recall@10"
    )
    for r in results:
        cells = " ".join(f"{r[c]['p50_ms']:>19} / {r[c]['p95_ms']:<8}" for c in columns)
        print(f"{r['chunks']:>9,} {r['build_s']:>8} {cells}  {r['hnsw_recall@10']:.4f}")
        for ef, figures in r["hnsw_by_ef_search"].items():
            print(f"          HNSW ef_search {ef:>4}: p50 {figures['p50_ms']} / p95 {figures['p95_ms']} ms, "
                  f"recall@10 {figures['recall@10']:.4f}")  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"dims": args.dims, "queries": args.queries, "sizes": results}, indent=2) + "\n"
        )


if __name__ == "__main__":
    main()
