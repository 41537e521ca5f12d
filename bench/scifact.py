"""Retrieval quality on BEIR SciFact (300 test queries, 5,183 abstracts): nDCG@10 and recall@100.

    .venv/bin/python bench/scifact.py [--embeddings local|none] [--vector-weight 0.3]
        [--data ../shared/eval/scifact] [--limit N] [--json bench/results/scifact.json]

Reads the BEIR files (CC BY-NC: never copied into this repository). Each abstract becomes one
chunk of one active toolkit version (heading = title), indexed exactly as ingestion indexes
chunks (same table, tsvector and HNSW index), and the app's own `retrieve` ranks them: keyword
only, vector only (the local all-MiniLM-L6-v2) and hybrid. Plain BM25 (bm25s, English stemming
and stop words) over the same title + abstract texts runs in the same process as the baseline.
Published figures are printed beside ours. Targets: hybrid >= 0.73 (issue 19), keyword >= plain BM25.
"""

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "toolkitrag.settings")

from throwaway_database import throwaway_database, use_retrieval  # noqa: E402 - bench/ is on sys.path

SCIFACT = ROOT.parent / "shared" / "eval" / "scifact"
PUBLISHED = {  # nDCG@10 on the same 300 queries, from ../shared/eval/SOURCES.md
    "BM25 (BEIR paper, Elasticsearch)": 0.665,
    "BM25 (Pyserini rerun)": 0.6789,
    "all-MiniLM-L6-v2 (MTEB)": 0.64508,
    "BM25 + cross-encoder rerank (BEIR paper)": 0.688,
    "bge-small-en-v1.5 (MTEB)": 0.71273,
}


def ndcg_at_10(ranked: list[str], relevant: set[str]) -> float:
    dcg = sum(1 / math.log2(i + 2) for i, doc in enumerate(ranked[:10]) if doc in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), 10)))
    return dcg / ideal if ideal else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SCIFACT)
    parser.add_argument("--embeddings", choices=["none", "local"], default="local")
    parser.add_argument("--vector-weight", type=float, default=None)
    parser.add_argument("--limit", type=int, help="only the first N abstracts and their queries (smoke test)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    if not args.data.exists():
        sys.exit(f"needs {args.data} (the shared evaluation data)")
    with throwaway_database():
        run(args)


def evaluate(rankings: dict[str, list[str]], qrels: dict[str, set[str]]) -> dict:
    ndcg = [ndcg_at_10(rankings[q], relevant) for q, relevant in qrels.items()]
    recall = [len(relevant & set(rankings[q][:100])) / len(relevant) for q, relevant in qrels.items()]
    return {"ndcg@10": round(sum(ndcg) / len(ndcg), 4), "recall@100": round(sum(recall) / len(recall), 4)}


def load_scifact(data: Path, limit: int | None) -> tuple[list[dict], dict[str, str], dict[str, set[str]]]:
    """(abstracts, queries by id, relevant abstract ids by test query id); with `limit`, only the
    first abstracts and the queries that have a relevant one among them."""
    corpus = [json.loads(line) for line in (data / "corpus.jsonl").open()]
    queries = {q["_id"]: q["text"] for q in map(json.loads, (data / "queries.jsonl").open())}
    qrels: dict[str, set[str]] = {}
    for line in (data / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        qid, doc_id, _ = line.split("\t")
        qrels.setdefault(qid, set()).add(doc_id)
    if limit:
        corpus = corpus[:limit]
        kept = {doc["_id"] for doc in corpus}
        qrels = {q: rel & kept for q, rel in qrels.items() if rel & kept}
    return corpus, queries, qrels


def index_corpus(corpus: list[dict]) -> dict[int, str]:
    """Write every abstract as one chunk (heading = its title) of one active version, the way
    ingestion writes chunks, embedded when embeddings are on; abstract id by chunk id."""
    from django.db import transaction

    from toolkit import keyword_index
    from toolkit.chunking import ChunkDraft
    from toolkit.embeddings import embed_with_cache, get_embedder
    from toolkit.ingestion import write_chunks
    from toolkit.models import Toolkit, ToolkitVersion

    document = ToolkitVersion.objects.create(
        toolkit=Toolkit.objects.create(name="SciFact"),
        version_tag="test",
        sha256="-",
        status="ready",
        is_active=True,
    )
    drafts = [
        ChunkDraft([doc["title"]], doc["text"], len(doc["text"].split()), i, i)
        for i, doc in enumerate(corpus)
    ]
    vectors = None
    embedder = get_embedder()
    if embedder is not None:
        vectors, _ = embed_with_cache(embedder, [draft.embedding_text() for draft in drafts])
    with transaction.atomic():  # as ingestion writes them (the toolkit's row is locked meanwhile)
        write_chunks(document, drafts, vectors)
        document.save()
    keyword_index.build(document.pk)  # as ingestion does
    return {
        chunk_id: corpus[ordinal]["_id"] for chunk_id, ordinal in document.chunks.values_list("id", "ordinal")
    }


def run(args) -> None:
    from baselines import bm25_search
    from django.conf import settings

    from rag.retrieval import retrieve
    from toolkit.access import EVERY_TOOLKIT
    from toolkit.embeddings import get_embedder

    use_retrieval(args.embeddings, args.vector_weight)
    corpus, queries, qrels = load_scifact(args.data, args.limit)
    started = time.perf_counter()
    doc_ids = index_corpus(corpus)
    embedder = get_embedder()
    seconds = time.perf_counter() - started
    print(f"indexed {len(corpus)} abstracts in {seconds:.1f} s (embeddings: {args.embeddings})")

    modes = {"keyword": ("keyword",)}
    if embedder is not None:
        modes |= {"vector": ("vector",), "hybrid": ("keyword", "vector")}
    figures, latency = {}, {}
    for mode, retrievers in modes.items():
        rankings, times = {}, []
        for qid in qrels:
            began = time.perf_counter()
            result = retrieve(queries[qid], top_k=100, retrievers=retrievers, viewer=EVERY_TOOLKIT)
            times.append((time.perf_counter() - began) * 1000)
            rankings[qid] = [doc_ids[c.chunk_id] for c in result.chunks]
        figures[mode] = evaluate(rankings, qrels)
        times.sort()
        latency[mode] = {
            "p50_ms": round(times[len(times) // 2], 1),
            "p95_ms": round(times[int(len(times) * 0.95)], 1),
        }

    order = list(qrels)
    hits = bm25_search([f"{doc['title']} {doc['text']}" for doc in corpus], [queries[q] for q in order], 100)
    figures["plain BM25 (bm25s)"] = evaluate(
        {q: [corpus[i]["_id"] for i in ranked] for q, ranked in zip(order, hits, strict=True)}, qrels
    )

    weight = settings.RAG_VECTOR_WEIGHT
    print(
        f"\nBEIR SciFact test: {len(qrels)} queries, {len(corpus)} abstracts; hybrid vector weight {weight}\n"
    )
    print(f"{'system':<44} {'nDCG@10':>8} {'R@100':>7} {'p50 ms':>7} {'p95 ms':>7}")
    for name, figure in figures.items():
        timing = latency.get(name, {})
        print(
            f"{'ours, ' + name if name in modes else name:<44} "
            f"{figure['ndcg@10']:>8.4f} {figure['recall@100']:>7.4f}"
            f" {timing.get('p50_ms', ''):>7} {timing.get('p95_ms', ''):>7}"
        )
    for name, ndcg in PUBLISHED.items():
        print(f"{'published: ' + name:<44} {ndcg:>8.4f}")
    if "hybrid" in figures:
        print(f"\ntarget hybrid >= 0.73: {figures['hybrid']['ndcg@10']:.4f}")
    print(
        f"target keyword >= plain BM25: {figures['keyword']['ndcg@10']:.4f} vs "
        f"{figures['plain BM25 (bm25s)']['ndcg@10']:.4f}"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"queries": len(qrels), "abstracts": len(corpus), "vector_weight": weight,
                   "figures": figures, "latency_top100": latency, "published_ndcg@10": PUBLISHED}  # fmt: skip
        args.json.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
