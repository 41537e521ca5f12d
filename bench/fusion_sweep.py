"""How to fuse the keyword and vector sides, and with what weight: a sweep on SciFact and SQuAD.

    .venv/bin/python bench/fusion_sweep.py --set scifact|squad [--weights 0.2,0.3,...]
        [--limit N] [--sample N] [--json bench/results/fusion_sweep.json]

Indexes the data as bench/scifact.py and bench/squad.py do (local all-MiniLM-L6-v2), takes each
question's keyword and vector candidates once from toolkit.search (the best 100 of each side, as
hybrid search does), and fuses them here in Python for every method and weight, so a sweep costs
one retrieval per question. Methods: weighted reciprocal rank (k 30, keyword 1, vector w: what
retrieval did before), and weighted sums (keyword 1 - w, vector w) of z-scores or min-max scores
over each side's pool, a chunk missing from a pool getting that pool's lowest score ("min"), or,
on the keyword side when fewer chunks than the pool matched a term, a BM25 score of 0 ("zero").
The app's own figures at the chosen setting come from bench/scifact.py and bench/squad.py.
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

from throwaway_database import throwaway_database, use_retrieval  # noqa: E402 - bench/ is on sys.path

POOL = 100
RRF_K = 30
METHODS = ["rrf", "z, min", "z, zero", "min-max, min", "min-max, zero"]


def normalised(scores: list[float], method: str, missing: float) -> tuple[list[float], float]:
    """The pool's scores and the missing chunks' score, normalised over the pool."""
    if method.startswith("z"):
        mean, sd = statistics.fmean(scores), statistics.pstdev(scores)
        scale = sd or 1.0
        return [(s - mean) / scale if sd else 0.0 for s in scores], (missing - mean) / scale if sd else 0.0
    low, high = min(scores + [missing]), max(scores)
    span = high - low
    return [(s - low) / span if span else 0.0 for s in scores], (missing - low) / span if span else 0.0


def fuse(keyword: list, vector: list, weight: float, method: str) -> list[int]:
    """Chunk ids, best first, of the two sides' hits fused by `method` with vector weight `weight`."""
    fused: dict[int, float] = {}
    if method == "rrf":
        for side_weight, hits in ((1.0, keyword), (weight, vector)):
            for hit in hits:
                fused[hit.chunk_id] = fused.get(hit.chunk_id, 0.0) + side_weight / (RRF_K + hit.rank)
        return sorted(fused, key=lambda i: (-fused[i], i))
    sides = []
    for side_weight, hits, is_keyword in ((1 - weight, keyword, True), (weight, vector, False)):
        scores = [hit.score if is_keyword else hit.similarity for hit in hits]
        if not scores:
            sides.append((side_weight, {}, 0.0))
            continue
        missing = min(scores)
        if method.endswith("zero") and is_keyword and len(scores) < POOL:
            missing = 0.0  # fewer matches than the pool: every other chunk holds no question term
        values, missing_value = normalised(scores, method, missing)
        sides.append(
            (side_weight, {hit.chunk_id: v for hit, v in zip(hits, values, strict=True)}, missing_value)
        )
    ids = {hit.chunk_id for hit in keyword} | {hit.chunk_id for hit in vector}
    for chunk_id in ids:
        fused[chunk_id] = sum(w * values.get(chunk_id, missing) for w, values, missing in sides)
    return sorted(fused, key=lambda i: (-fused[i], i))


def candidates(questions: list[str]) -> list[tuple[list, list]]:
    from rag.retrieval import embed_query
    from toolkit import search
    from toolkit.access import EVERY_TOOLKIT

    pairs = []
    for question in questions:
        vector = embed_query(question)
        pairs.append(
            (
                search.keyword_search(question, None, POOL, viewer=EVERY_TOOLKIT),
                search.vector_search(vector, None, POOL, viewer=EVERY_TOOLKIT),
            )
        )
    return pairs


def sweep(pairs: list[tuple[list, list]], weights: list[float], measure) -> dict:
    figures = {"keyword only": measure([[h.chunk_id for h in k] for k, _ in pairs])}
    figures["vector only"] = measure([[h.chunk_id for h in v] for _, v in pairs])
    for method in METHODS:
        for weight in weights:
            figures[f"{method}, w {weight}"] = measure([fuse(k, v, weight, method) for k, v in pairs])
    return figures


def run_scifact(args) -> dict:
    from baselines import bm25_search
    from scifact import evaluate, index_corpus, load_scifact

    corpus, queries, qrels = load_scifact(ROOT.parent / "shared" / "eval" / "scifact", args.limit)
    doc_ids = index_corpus(corpus)
    order = list(qrels)
    pairs = candidates([queries[q] for q in order])

    def measure(rankings: list[list[int]]) -> dict:
        return evaluate({q: [doc_ids[i] for i in r] for q, r in zip(order, rankings, strict=True)}, qrels)

    figures = sweep(pairs, args.weights, measure)
    hits = bm25_search([f"{doc['title']} {doc['text']}" for doc in corpus], [queries[q] for q in order], 100)
    figures["plain BM25 (bm25s)"] = evaluate(
        {q: [corpus[i]["_id"] for i in ranked] for q, ranked in zip(order, hits, strict=True)}, qrels
    )
    return figures


def run_squad(args) -> dict:
    from baselines import bm25_search
    from squad import SQUAD, ingest_articles, load_squad, scores

    from toolkit.models import Chunk

    articles, questions = load_squad(SQUAD, args.limit, None)
    if args.sample:  # every n-th question, so that every article is asked about
        questions = questions[:: max(1, len(questions) // args.sample)][: args.sample]
    ingest_articles(articles)
    chunks = {c.pk: c for c in Chunk.objects.all()}
    pairs = candidates([q for q, _ in questions])
    golds = [answers for _, answers in questions]

    def measure(rankings: list[list[int]]) -> dict:
        return scores([[chunks[i].text for i in r[:10]] for r in rankings], golds)

    figures = sweep(pairs, args.weights, measure)
    ordered = list(chunks.values())
    texts = [f"{c.title}\n{c.heading}\n{c.text}" for c in ordered]
    hits = bm25_search(texts, [q for q, _ in questions], 10)
    figures["bm25 over the same chunks"] = scores([[ordered[i].text for i in r] for r in hits], golds)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=["scifact", "squad"], required=True)
    parser.add_argument("--weights", default="0.2,0.3,0.4,0.5,0.6,0.7")
    parser.add_argument("--limit", type=int, help="only N abstracts / N articles (smoke test)")
    parser.add_argument("--sample", type=int, help="SQuAD: only N questions, spread over the articles")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    args.weights = [float(w) for w in args.weights.split(",")]
    started = time.perf_counter()
    with throwaway_database():
        use_retrieval("local")
        figures = {"scifact": run_scifact, "squad": run_squad}[args.set](args)
    print(f"\n{args.set}: {time.perf_counter() - started:.0f} s, each side's best {POOL}")
    metric, other = ("ndcg@10", "recall@100") if args.set == "scifact" else ("hit@1", "mrr@10")
    print(f"{'fusion':<28} {metric:>8} {other:>10}")
    for label, figure in figures.items():
        print(f"{label:<28} {figure[metric]:>8.4f} {figure[other]:>10.4f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"set": args.set, "pool": POOL, "figures": figures}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
