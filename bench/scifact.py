"""Retrieval quality on BEIR SciFact (300 test queries, 5,183 abstracts): nDCG@10 and recall@100.

    .venv/bin/python bench/scifact.py [--embeddings none|local] [--vector-weight 0.3]

Reads ../shared/eval/scifact (CC BY-NC: it is never copied into this repository). Each abstract
becomes one chunk of one active toolkit version (heading = title), indexed exactly as ingestion
indexes chunks (same table, tsvector and HNSW index), and the app's own `retrieve` ranks them.
Published figures for comparison: BM25 0.665 (BEIR paper), all-MiniLM-L6-v2 0.645 (MTEB).
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

from throwaway_database import throwaway_database  # noqa: E402 - bench/ is on sys.path

SCIFACT = ROOT.parent / "shared" / "eval" / "scifact"


def ndcg_at_10(ranked: list[str], relevant: set[str]) -> float:
    dcg = sum(1 / math.log2(i + 2) for i, doc in enumerate(ranked[:10]) if doc in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), 10)))
    return dcg / ideal if ideal else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embeddings", choices=["none", "local"], default="none")
    parser.add_argument("--vector-weight", type=float, default=None)
    args = parser.parse_args()
    if not SCIFACT.exists():
        sys.exit(f"needs {SCIFACT} (the shared evaluation data)")
    with throwaway_database():
        run(args)


def run(args) -> None:
    from django.conf import settings

    from rag.retrieval import retrieve
    from toolkit.chunking import ChunkDraft
    from toolkit.embeddings import embed_with_cache, get_embedder
    from toolkit.ingestion import write_chunks
    from toolkit.models import Document, Toolkit

    settings.EMBEDDING_BACKEND = args.embeddings
    if args.embeddings == "local":
        settings.EMBEDDING_MODEL = "all-MiniLM-L6-v2"
    if args.vector_weight is not None:
        settings.RAG_VECTOR_WEIGHT = args.vector_weight

    corpus = [json.loads(line) for line in (SCIFACT / "corpus.jsonl").open()]
    queries = {q["_id"]: q["text"] for q in map(json.loads, (SCIFACT / "queries.jsonl").open())}
    qrels: dict[str, set[str]] = {}
    for line in (SCIFACT / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        qid, doc_id, _ = line.split("\t")
        qrels.setdefault(qid, set()).add(doc_id)

    started = time.perf_counter()
    document = Document.objects.create(
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
    texts = [draft.embedding_text() for draft in drafts]
    vectors = None
    embedder = get_embedder()
    if embedder is not None:
        vectors, _ = embed_with_cache(embedder, texts)
    write_chunks(document, drafts, vectors)
    document.save()
    doc_ids = {
        chunk_id: corpus[ordinal]["_id"] for chunk_id, ordinal in document.chunks.values_list("id", "ordinal")
    }
    seconds = time.perf_counter() - started
    print(f"indexed {len(corpus)} abstracts in {seconds:.1f} s (embeddings: {args.embeddings})")

    scores, recalls, latencies = [], [], []
    for qid, relevant in qrels.items():
        t = time.perf_counter()
        result = retrieve(queries[qid], top_k=100)
        latencies.append((time.perf_counter() - t) * 1000)
        ranked = [doc_ids[c.chunk_id] for c in result.chunks]
        scores.append(ndcg_at_10(ranked, relevant))
        recalls.append(len(relevant & set(ranked)) / len(relevant))
    latencies.sort()
    weight = f", vector weight {settings.RAG_VECTOR_WEIGHT}" if args.embeddings != "none" else ""
    ndcg, recall = sum(scores) / len(scores), sum(recalls) / len(recalls)
    p50, p95 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.95)]
    print(
        f"SciFact test, {len(scores)} queries ({args.embeddings}{weight}): nDCG@10 {ndcg:.4f}, "
        f"recall@100 {recall:.4f}; retrieval (top 100) p50 {p50:.1f} ms, p95 {p95:.1f} ms"
    )


if __name__ == "__main__":
    main()
