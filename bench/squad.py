"""Retrieval on SQuAD articles as .docx: hit@1, hit@5 and MRR@10 of the real ingestion and
retrieval path, beside plain BM25 over the same chunks and over the gold paragraphs.

    .venv/bin/python bench/squad.py [--data ../shared/eval/squad/dev-even.json]
        [--embeddings local|none] [--articles N] [--questions N] [--json bench/results/squad.json]

Each Wikipedia article becomes a .docx (title as Heading 1, one paragraph per context) ingested
through `toolkit.ingestion` as the active version of its own toolkit; every question goes through
`rag.retrieval.retrieve` (top 10). A hit is a retrieved chunk containing one of the question's
reference answers. Baselines, computed in the same run: bm25s (Lucene BM25, English stemming and
stop words) over the same chunks (the words our keyword index holds: title, heading path, text),
and over the gold paragraphs. The last line is exactly
`hit@1=<x> mrr@10=<y> bm25_chunks_hit@1=<a> bm25_paragraphs_hit@1=<b>`.
Targets: hit@1 >= 1.05 x BM25 over the same chunks, and >= BM25 over the gold paragraphs.
"""

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "toolkitrag.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

from throwaway_database import throwaway_database, use_retrieval  # noqa: E402 - bench/ is on sys.path

SQUAD = ROOT.parent / "shared" / "eval" / "squad" / "dev-even.json"


def article_docx(article: dict) -> bytes:
    import docx

    document = docx.Document()
    title = article["title"].replace("_", " ")
    document.core_properties.title = title
    document.add_heading(title, level=1)
    for paragraph in article["paragraphs"]:
        document.add_paragraph(paragraph["context"])
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def scores(rankings: list[list[str]], answers: list[list[str]]) -> dict:
    """hit@1, hit@5 and MRR@10 of ranked passage texts against each question's answers."""
    hit1 = hit5 = mrr = 0.0
    for ranked, golds in zip(rankings, answers, strict=True):
        golds = [g.lower() for g in golds]
        first = next((i for i, text in enumerate(ranked[:10]) if any(g in text.lower() for g in golds)), None)
        if first is not None:
            hit1 += first == 0
            hit5 += first < 5
            mrr += 1 / (first + 1)
    n = len(rankings)
    return {"hit@1": round(hit1 / n, 4), "hit@5": round(hit5 / n, 4), "mrr@10": round(mrr / n, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SQUAD)
    parser.add_argument("--embeddings", choices=["none", "local"], default="local")
    parser.add_argument("--vector-weight", type=float, help="override RAG_VECTOR_WEIGHT")
    parser.add_argument("--articles", type=int, help="only the first N articles (smoke test)")
    parser.add_argument("--questions", type=int, help="only the first N questions")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    if not args.data.exists():
        sys.exit(f"needs {args.data} (the shared evaluation data)")
    with throwaway_database():
        run(args)


def load_squad(data: Path, articles: int | None, questions: int | None) -> tuple[list[dict], list[tuple]]:
    """(the first `articles` articles, their first `questions` (question, reference answers))."""
    kept = json.loads(data.read_text())["data"][:articles]
    asked = [
        (qa["question"], [a["text"] for a in qa["answers"]])
        for article in kept
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    ][:questions]
    return kept, asked


def ingest_articles(articles: list[dict]) -> None:
    """Each article as a .docx, the active version of its own toolkit (named by the title)."""
    from toolkit import ingestion, uploads
    from toolkit.models import Toolkit

    for article in articles:
        document = uploads.create_version(
            toolkit=Toolkit.objects.create(name=article["title"].replace("_", " ")),
            version_tag="dev",
            stream=io.BytesIO(article_docx(article)),
            filename=f"{article['title']}.docx",
            activate=True,
        )
        ingestion.ingest(document)


def run(args) -> None:
    from baselines import bm25_search
    from django.conf import settings
    from django.db.models import Avg

    from rag.retrieval import retrieve
    from toolkit.access import EVERY_TOOLKIT
    from toolkit.models import Chunk

    use_retrieval(args.embeddings, args.vector_weight)
    articles, questions = load_squad(args.data, args.articles, args.questions)
    started = time.perf_counter()
    ingest_articles(articles)
    chunks = list(Chunk.objects.values_list("title", "heading", "text"))
    tokens = Chunk.objects.aggregate(mean=Avg("token_count"))["mean"]
    ingest_s = time.perf_counter() - started
    print(
        f"ingested {len(articles)} articles: {len(chunks)} chunks, mean {tokens:.0f} tokens, {ingest_s:.1f} s"
    )

    began = time.perf_counter()
    ours = [[c.text for c in retrieve(q, top_k=10, viewer=EVERY_TOOLKIT).chunks] for q, _ in questions]
    per_question_ms = (time.perf_counter() - began) * 1000 / len(questions)
    golds = [answers for _, answers in questions]
    figures = {"ours": scores(ours, golds)}

    # the words bm25s sees are the ones our keyword index holds: title, heading path, text
    texts = [f"{title}\n{heading}\n{text}" for title, heading, text in chunks]
    hits = bm25_search(texts, [q for q, _ in questions], 10)
    figures["bm25 over the same chunks"] = scores([[chunks[i][2] for i in ranked] for ranked in hits], golds)
    paragraphs = [p["context"] for article in articles for p in article["paragraphs"]]
    hits = bm25_search(paragraphs, [q for q, _ in questions], 10)
    figures["bm25 over the gold paragraphs"] = scores(
        [[paragraphs[i] for i in ranked] for ranked in hits], golds
    )

    mode = (
        f"hybrid, all-MiniLM-L6-v2, vector weight {settings.RAG_VECTOR_WEIGHT}"
        if args.embeddings == "local"
        else "keyword only"
    )
    print(
        f"\nSQuAD dev (even articles): {len(questions)} questions, {len(articles)} articles; ours: {mode}\n"
    )
    print(f"{'system':<32} {'hit@1':>7} {'hit@5':>7} {'MRR@10':>7}")
    for name, f in figures.items():
        print(f"{name:<32} {f['hit@1']:>7.4f} {f['hit@5']:>7.4f} {f['mrr@10']:>7.4f}")
    chunks_hit1 = figures["bm25 over the same chunks"]["hit@1"]
    ratio = figures["ours"]["hit@1"] / chunks_hit1 if chunks_hit1 else 0.0
    print(f"\nretrieval {per_question_ms:.1f} ms per question; mean {tokens:.0f} tokens per chunk")
    print(
        f"target hit@1 >= 1.05 x {chunks_hit1:.4f} = {1.05 * chunks_hit1:.4f}: {figures['ours']['hit@1']:.4f}"
        f" ({ratio:.3f} x bm25s over the same chunks)"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"questions": len(questions), "articles": len(articles), "chunks": len(chunks),
                   "mode": mode, "hit@1_vs_bm25_same_chunks": round(ratio, 4),
                   "mean_tokens_per_chunk": round(tokens, 1), "ms_per_question": round(per_question_ms, 1),
                   "figures": figures}  # fmt: skip
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    print(
        f"hit@1={figures['ours']['hit@1']:.4f} mrr@10={figures['ours']['mrr@10']:.4f} "
        f"bm25_chunks_hit@1={chunks_hit1:.4f} "
        f"bm25_paragraphs_hit@1={figures['bm25 over the gold paragraphs']['hit@1']:.4f}"
    )


if __name__ == "__main__":
    main()
