"""Retrieval latency at 10k, 100k (and 1M) chunks: hybrid p50/p95 through the app's `retrieve`,
vector top-10 with the HNSW index vs an exact scan, and HNSW recall@10 against exact; the keyword
side with candidates from the keyword index (tantivy) and with today's SQL path alone, its top-10
overlap with exhaustive BM25, the index's build time and size, and a worker's RSS with it open.

    .venv/bin/python bench/latency.py [--sizes 10000,100000] [--queries 100] [--dims 384]
        [--json bench/results/latency.json] [--data-dir /work/bench-data/latency]
        [--recall-queries 200 --ef-search 100,400 --iterative-scan relaxed_order,strict_order]
        [--hnsw-m 16 --hnsw-ef-construction 200] [--hnsw-only]

The database is throwaway unless --data-dir names a folder to keep it in (outside the repo: 1M
chunks take ~4 GB): one database per size, reused by the next run with that folder, so a 1M run
does not regenerate its chunks (~20 min), nor rebuild its HNSW index unless the build parameters
differ (--hnsw-m/--hnsw-ef-construction, default RAG_HNSW_M/RAG_HNSW_EF_CONSTRUCTION). Set
RAG_HNSW_BUILD_MEMORY (e.g. 6GB) so that a 1M-chunk graph is built in memory.
--recall-queries N adds the HNSW study: N fixed query vectors, their exact top 10 (kept with the
data), recall@10 and p50/p95 per --ef-search value and hnsw.iterative_scan mode, and the index's
build parameters, build time and size; --hnsw-only runs just that.

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

from throwaway_database import kept_database, throwaway_database, use_database  # noqa: E402 - bench/ on sys.path

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
    """A ready, active version with `size` synthetic chunks; returns its id. Chunks already
    generated for `size` (a kept data folder) are reused, and so is the HNSW index when its build
    parameters are the configured ones (toolkit/vector_index.py rebuilds it otherwise)."""
    from django.db import connection

    from toolkit.models import ToolkitVersion
    from toolkit.vector_index import ensure_index, index_name

    ready = ToolkitVersion.objects.filter(version_tag=str(size), status="ready", chunk_count=size)
    document = ready.get() if ready.exists() else fill(size, dims)
    with connection.cursor() as cursor:
        cursor.execute("SET max_parallel_maintenance_workers = 1")  # the leader works too: 2 cores
    started = time.perf_counter()
    if ensure_index(dims):
        with connection.cursor() as cursor:
            # Kept with the index, so that a later run reusing it can report how long it took.
            cursor.execute(
                f"COMMENT ON INDEX {index_name(dims)} IS 'built in {time.perf_counter() - started:.0f} s'"
            )
            cursor.execute("VACUUM ANALYZE toolkit_chunks")
    return document.pk


def fill(size: int, dims: int):
    """Generate the synthetic chunks (no HNSW index yet: it is built once, after the rows are in)."""
    from django.db import connection

    from toolkit.models import Toolkit, ToolkitVersion
    from toolkit.search import record_term_statistics
    from toolkit.vector_index import index_name

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
        cursor.execute(f"DROP INDEX IF EXISTS {index_name(dims)}")
        cursor.execute("DROP TABLE IF EXISTS centroids")
        cursor.execute("DROP TABLE IF EXISTS bench_exact_top10")  # the nearest neighbours of old rows
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
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE toolkit_chunks")
        cursor.execute("VACUUM ANALYZE toolkit_term_stats")
    return document


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
    from django.db import connection, transaction

    from toolkit.vector_index import ef_search_for, indexed_chunks

    with transaction.atomic(), connection.cursor() as cursor:
        if exact:
            cursor.execute("SET LOCAL enable_indexscan = off")
        else:
            ef_search = ef_search or ef_search_for(indexed_chunks(dims))  # as retrieve()
            cursor.execute(f"SET LOCAL hnsw.ef_search = {int(ef_search)}")
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

    settings.KEYWORD_CANDIDATES, candidates = 0, settings.KEYWORD_CANDIDATES
    try:
        hybrid, keyword = retrieval_times(asked)
    finally:
        settings.KEYWORD_CANDIDATES = candidates
    return {"hybrid, SQL path": p50_p95(hybrid), "keyword only, SQL path": p50_p95(keyword)}


def retrieval_times(asked: list[tuple[str, list[float]]]) -> tuple[list[float], list[float]]:
    """Milliseconds per question through the app's `retrieve`: hybrid, and keyword only."""
    from rag import retrieval
    from toolkit.access import EVERY_TOOLKIT

    hybrid, keyword = [], []
    for words, _ in asked:
        began = time.perf_counter()
        retrieval.retrieve(words, top_k=10, viewer=EVERY_TOOLKIT)
        hybrid.append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        retrieval.retrieve(words, top_k=10, retrievers=("keyword",), viewer=EVERY_TOOLKIT)
        keyword.append((time.perf_counter() - began) * 1000)
    return hybrid, keyword


def keyword_overlap(asked: list[tuple[str, list[float]]]) -> dict:
    """Top-10 overlap with exhaustive BM25 (every matching chunk scored, no pruning), of the keyword
    side with index candidates and of today's SQL path (which prunes common terms above 20k)."""
    from toolkit import keyword_index, search
    from toolkit.access import EVERY_TOOLKIT

    indexed, pruned = [], []
    for words, _ in asked:
        truth = [
            hit.chunk_id
            for hit in search.keyword_search(words, None, 10, exhaustive=True, viewer=EVERY_TOOLKIT)
        ]
        if not truth:
            continue
        found = search.keyword_search(
            words, None, 10, keyword_index.candidates(words, None, viewer=EVERY_TOOLKIT), viewer=EVERY_TOOLKIT
        )
        indexed.append(len({hit.chunk_id for hit in found} & set(truth)) / len(truth))
        found = search.keyword_search(words, None, 10, viewer=EVERY_TOOLKIT)
        pruned.append(len({hit.chunk_id for hit in found} & set(truth)) / len(truth))
    return {
        "keyword_top10_overlap": round(statistics.mean(indexed), 4) if indexed else None,
        "keyword_top10_overlap_sql_path": round(statistics.mean(pruned), 4) if pruned else None,
    }


# Run in a fresh process, as a gunicorn worker: load the app, answer keyword questions (opening
# the index), report memory. RssFile counts the index's pages mapped in; they are shared with
# every other worker through the page cache (Pss splits shared pages between the processes).
WORKER_PROBE = """
import json, os, sys
from django.core.wsgi import get_wsgi_application
from django.db import connection

def memory():
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    rollup = dict(line.split(":", 1) for line in open("/proc/self/smaps_rollup").readlines()[1:])
    return {name.lower() + "_mb": round(int(value.split()[0]) / 1024, 1)
            for name, value in [*status.items(), *rollup.items()] if name in ("VmRSS", "RssAnon", "RssFile", "Pss")}

get_wsgi_application()
connection.settings_dict["NAME"] = os.environ["BENCH_DATABASE_NAME"]  # the data set measured
from rag.retrieval import retrieve
from toolkit.access import EVERY_TOOLKIT
before = memory()
for words in json.load(sys.stdin):
    retrieve(words, top_k=10, retrievers=("keyword",), viewer=EVERY_TOOLKIT)
print(json.dumps({"app_loaded": before, "index_open": memory()}))
"""


def worker_memory(asked: list[tuple[str, list[float]]]) -> dict:
    """Memory of a process that loads the app and answers the questions from the keyword index."""
    from django.db import connection

    env = {
        **os.environ,
        "EMBEDDING_BACKEND": "none",
        "LOG_LEVEL": "WARNING",
        "BENCH_DATABASE_NAME": connection.settings_dict["NAME"],
    }
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
    hybrid, keyword = retrieval_times(asked)
    hnsw, exact, recall = [], [], []
    by_ef = {ef: ([], []) for ef in ef_values}  # ef_search -> (ms, recall@10)
    for _, vector in asked:
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

    return {
        "chunks": size,
        "build_s": round(build_s, 1),
        "hybrid": p50_p95(hybrid),
        "keyword only": p50_p95(keyword),
        **sql_path,
        **overlap,
        "keyword_index": keyword_index,
        "worker_memory": memory,
        "vector top-10, HNSW": p50_p95(hnsw),
        "vector top-10, exact": p50_p95(exact),
        "hnsw_recall@10": round(statistics.mean(recall), 4),
        "hnsw_by_ef_search": {
            str(ef): {**p50_p95(times), "recall@10": round(statistics.mean(recalls), 4)}
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


# The app's vector query (toolkit/search.py): the active versions, the index's dimension.
SCOPED_TOP10 = """
SELECT id FROM toolkit_chunks
WHERE document_id IN (SELECT id FROM toolkit_documents WHERE is_active AND status = 'ready')
  AND vector_dims(embedding) = {dims}
ORDER BY embedding::vector({dims}) <=> %s::vector({dims}) LIMIT 10"""


def exact_top10(size: int, count: int, dims: int) -> list[tuple[list[float], list[int]]]:
    """`count` fixed query vectors (near chunks picked by a seeded draw, as in `queries`) and their
    true 10 nearest chunks by an exact scan: stored in the database, so that a kept data folder
    computes them once (an exact scan takes seconds at 1M chunks)."""
    from django.db import connection, transaction

    draw = random.Random(size)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS bench_exact_top10 (n int PRIMARY KEY, vector text, ids int[])"
        )
        cursor.execute("SELECT vector, ids FROM bench_exact_top10 ORDER BY n LIMIT %s", [count])
        stored = [(json.loads(vector), ids) for vector, ids in cursor.fetchall()]
    for n in range(count):
        ordinal = draw.randrange(size)
        noise = [draw.gauss(0, 0.01) for _ in range(dims)]
        if n < len(stored):
            continue  # same draws as when it was stored, so that later queries stay the same
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT embedding::text FROM toolkit_chunks WHERE ordinal = %s", [ordinal])
            noisy = [x + e for x, e in zip(json.loads(cursor.fetchone()[0]), noise, strict=True)]
            norm = sum(x * x for x in noisy) ** 0.5
            vector = [x / norm for x in noisy]
            cursor.execute("SET LOCAL enable_indexscan = off")
            cursor.execute(SCOPED_TOP10.format(dims=dims), [str(vector)])
            ids = [row[0] for row in cursor.fetchall()]
            cursor.execute("INSERT INTO bench_exact_top10 VALUES (%s, %s, %s)", [n, str(vector), ids])
        stored.append((vector, ids))
    return stored


def hnsw_recall(size: int, count: int, dims: int, ef_values: list[int], modes: list[str]) -> dict:
    """HNSW recall@10 against exact and p50/p95 per ef_search and iterative scan mode, through
    the app's query shape, with the index's build parameters, build time and size."""
    from django.db import connection, transaction

    from toolkit.vector_index import index_name, index_parameters

    truths = exact_top10(size, count, dims)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_relation_size(%s::regclass), obj_description(%s::regclass, 'pg_class'), "
            "(SELECT extversion FROM pg_extension WHERE extname = 'vector')",
            [index_name(dims)] * 2,
        )
        index_bytes, comment, pgvector = cursor.fetchone()
    # One untimed pass first: a server just started (a kept data folder) reads the index from
    # disk on first use, which would be charged to whichever setting is measured first.
    for vector, _ in truths:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL hnsw.ef_search = {max(ef_values)}")
            cursor.execute(SCOPED_TOP10.format(dims=dims), [str(vector)])
    by_mode = {}
    for mode in modes:
        by_ef = {}
        for ef in ef_values:
            times, recalls = [], []
            for vector, truth in truths:
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(
                        f"SET LOCAL hnsw.ef_search = {int(ef)}; SET LOCAL hnsw.iterative_scan = {mode}"
                    )
                    began = time.perf_counter()
                    cursor.execute(SCOPED_TOP10.format(dims=dims), [str(vector)])
                    found = [row[0] for row in cursor.fetchall()]
                    times.append((time.perf_counter() - began) * 1000)
                recalls.append(len(set(found) & set(truth)) / len(truth))
            by_ef[str(ef)] = {
                "p50_ms": round(percentile(times, 50), 1),
                "p95_ms": round(percentile(times, 95), 1),
                "recall@10": round(statistics.mean(recalls), 4),
            }
        by_mode[mode] = by_ef
    return {
        "pgvector": pgvector,
        **index_parameters(dims),
        "index_build": comment,
        "index_mb": round(index_bytes / 2**20),
        "queries": len(truths),
        "by_iterative_scan": by_mode,
    }


def print_hnsw(size: int, study: dict) -> None:
    print(
        f"\n{size:,} chunks, HNSW m={study['m']} ef_construction={study['ef_construction']} "
        f"({study['index_build'] or 'build time not recorded'}, {study['index_mb']:,} MB, pgvector "
        f"{study['pgvector']}), {study['queries']} queries, recall@10 against exact:"
    )
    for mode, by_ef in study["by_iterative_scan"].items():
        for ef, figures in by_ef.items():
            print(f"  iterative_scan {mode:<13} ef_search {ef:>5}: p50 {figures['p50_ms']:>6} / "
                  f"p95 {figures['p95_ms']:>6} ms, recall@10 {figures['recall@10']:.4f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--dims", type=int, default=384)
    parser.add_argument("--ef-search", default="", help="also measure HNSW top-10 at these ef_search values")
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--data-dir", type=Path, help="keep the database in this folder and reuse the data built there"
    )
    parser.add_argument("--hnsw-m", type=int, help="HNSW build parameter m (default: RAG_HNSW_M)")
    parser.add_argument(
        "--hnsw-ef-construction", type=int, help="HNSW build parameter (default: RAG_HNSW_EF_CONSTRUCTION)"
    )
    parser.add_argument(
        "--recall-queries",
        type=int,
        default=0,
        help="HNSW recall study: this many queries, exact top 10 kept",
    )
    parser.add_argument(
        "--iterative-scan", default="relaxed_order", help="recall study: these hnsw.iterative_scan modes"
    )
    parser.add_argument("--hnsw-only", action="store_true", help="only the recall study, no latency figures")
    args = parser.parse_args()
    ef_values = [int(v) for v in args.ef_search.split(",") if v]
    os.environ["EMBEDDING_DIMENSIONS"] = str(args.dims)
    os.environ["KEYWORD_INDEX_DIR"] = tempfile.mkdtemp(prefix="latency-keyword-index-")
    random.seed(7)
    results, studies = [], {}
    database = kept_database(args.data_dir) if args.data_dir else throwaway_database()
    with database:
        from django.conf import settings

        settings.EMBEDDING_DIMENSIONS = args.dims
        if args.hnsw_m:
            settings.RAG_HNSW_M = args.hnsw_m
        if args.hnsw_ef_construction:
            settings.RAG_HNSW_EF_CONSTRUCTION = args.hnsw_ef_construction
        for size in (int(s) for s in args.sizes.split(",")):
            if args.data_dir:
                use_database(f"latency_{size}")  # one database per size, so each is kept
            if not args.hnsw_only:
                results.append(measure(size, args.queries, args.dims, ef_values))
            if args.recall_queries:
                build(size, args.dims)  # already done by measure; reused
                modes = args.iterative_scan.split(",")
                studies[size] = hnsw_recall(
                    size, args.recall_queries, args.dims, ef_values or [settings.RAG_HNSW_EF_SEARCH], modes
                )
                print_hnsw(size, studies[size])
            print(f"{size:,} chunks measured", flush=True)
    shutil.rmtree(os.environ["KEYWORD_INDEX_DIR"], ignore_errors=True)
    for r in results:
        if r["chunks"] in studies:
            r["hnsw_recall_study"] = studies[r["chunks"]]
    if args.hnsw_only:
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            payload = {"dims": args.dims, "sizes": [{"chunks": n, **st} for n, st in studies.items()]}
            args.json.write_text(json.dumps(payload, indent=2) + "\n")
        return
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
