"""Answer benchmark on SQuAD articles: retrieval quality and latency, and the app's own overhead
per answer with a local fake LLM. (Answer quality and the relevance gate: bench/answer_quality.py.)

    .venv/bin/python bench/answer.py [--articles 12] [--questions 300] [--embeddings]

The even-numbered SQuAD dev articles in ../shared/eval/squad/dev-even.json are split in two:
the first --articles become one toolkit (one .docx per article: title as heading, paragraphs as
text, ingested through the real pipeline), and questions about them are asked. A passage "hits" when it contains a reference
answer. A plain BM25 over the same chunks (no stemming, Python) is the keyword baseline.
Everything runs on a throwaway embedded PostgreSQL. --embeddings local adds real vectors
(all-MiniLM-L6-v2 on the CPU); --embeddings fake uses the test server's word vectors, a smoke
test of the hybrid path rather than a measure of quality.
"""

import argparse
import io
import json
import math
import os
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "toolkitrag.settings")

from squad import article_docx  # noqa: E402 - bench/ is on sys.path
from throwaway_database import throwaway_database  # noqa: E402

SQUAD = ROOT.parent / "shared" / "eval" / "squad" / "dev-even.json"
WORD = re.compile(r"\w+")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


class PlainBM25:
    """Textbook BM25 (k1=1.2, b=0.75) over lower-cased words, no stemming or stop words."""

    def __init__(self, texts: list[str]):
        self.docs = [Counter(w.lower() for w in WORD.findall(t)) for t in texts]
        self.lengths = [sum(d.values()) for d in self.docs]
        self.avg = sum(self.lengths) / len(self.lengths)
        df = Counter(term for d in self.docs for term in d)
        n = len(self.docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    def search(self, query: str, k: int) -> list[int]:
        terms = [w.lower() for w in WORD.findall(query)]
        scores = []
        for i, doc in enumerate(self.docs):
            score = 0.0
            for t in terms:
                tf = doc.get(t, 0)
                if tf:
                    score += self.idf[t] * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * self.lengths[i] / self.avg))
            if score:
                scores.append((score, i))
        return [i for _, i in sorted(scores, reverse=True)[:k]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=12)
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument(
        "--embeddings",
        choices=["none", "fake", "local"],
        default="none",
        help="fake: the test server's word vectors (a smoke test); "
        "local: all-MiniLM-L6-v2 (make install-local)",
    )
    args = parser.parse_args()
    if not SQUAD.exists():
        sys.exit(f"needs {SQUAD} (the shared evaluation data)")

    with throwaway_database():
        run(args)


def run(args) -> None:
    from django.conf import settings

    from accounts.models import User
    from rag.models import Message
    from rag.questions import ask
    from rag.retrieval import retrieve
    from toolkit import ingestion, uploads
    from toolkit.access import EVERY_TOOLKIT
    from toolkit.models import Chunk, Toolkit
    from toolkitrag.testing.fake_openai import FakeOpenAI

    settings.RATE_LIMIT_ENABLED = False
    fake = FakeOpenAI(dimensions=settings.EMBEDDING_DIMENSIONS).start()
    settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = fake.base_url, "bench"
    settings.EMBEDDING_MODEL, settings.CHAT_MODEL = "bench-embedding", "bench-chat"
    settings.EMBEDDING_BACKEND = {"none": "none", "fake": "openai", "local": "local"}[args.embeddings]
    if args.embeddings == "local":
        settings.EMBEDDING_MODEL = settings.LOCAL_MODEL_NAME[settings.EMBEDDING_LOCAL_RUNTIME]
    settings.CHAT_BACKEND = "none"

    data = json.loads(SQUAD.read_text())["data"]
    inside = data[: args.articles]
    started = time.perf_counter()
    for article in inside:  # one toolkit per article: each has its own active version
        document = uploads.create_version(
            toolkit=Toolkit.objects.create(name=article["title"].replace("_", " ")),
            version_tag="squad-dev",
            stream=io.BytesIO(article_docx(article)),
            filename=f"{article['title']}.docx",
        )
        ingestion.ingest(document)
    chunks = list(Chunk.objects.all())
    print(f"ingested {len(inside)} articles as {len(chunks)} chunks in {time.perf_counter() - started:.1f} s "
          f"(embeddings: {settings.EMBEDDING_BACKEND})")  # fmt: skip

    rng = random.Random(7)  # noqa: S311 - a reproducible sample
    answerable = [
        (qa["question"], [a["text"] for a in qa["answers"]])
        for article in inside for p in article["paragraphs"] for qa in p["qas"]
    ]  # fmt: skip
    answerable = rng.sample(answerable, min(args.questions, len(answerable)))

    # --- retrieval quality and latency --------------------------------------------------------
    bm25 = PlainBM25([c.text for c in chunks])
    ours = {"hit@1": 0, "hit@5": 0, "mrr": 0.0}
    base = {"hit@1": 0, "hit@5": 0, "mrr": 0.0}
    latencies = []
    for question, answers in answerable:
        t = time.perf_counter()
        result = retrieve(question, top_k=5, viewer=EVERY_TOOLKIT)
        latencies.append((time.perf_counter() - t) * 1000)
        _score(ours, [c.text for c in result.chunks], answers)
        _score(base, [chunks[i].text for i in bm25.search(question, 5)], answers)
    n = len(answerable)
    for name, s in (("ToolkitRAG keyword (BM25 in PostgreSQL)", ours), ("plain BM25 baseline", base)):
        mode = "hybrid" if settings.EMBEDDING_BACKEND != "none" and name.startswith("ToolkitRAG") else ""
        print(f"{name}{' ' + mode if mode else ''}: hit@1 {s['hit@1'] / n:.3f}, hit@5 {s['hit@5'] / n:.3f}, "
              f"MRR@5 {s['mrr'] / n:.3f} over {n} questions")  # fmt: skip
    print(f"retrieval latency over {n} questions: p50 {percentile(latencies, 50):.1f} ms, "
          f"p95 {percentile(latencies, 95):.1f} ms")  # fmt: skip

    # --- app overhead per answer with a fake LLM ---------------------------------------------------
    settings.CHAT_BACKEND = "openai"
    settings.CHAT_TIMEOUT, settings.CHAT_MAX_RETRIES = 30.0, 0
    user = User.objects.create_user("bench", "bench@example.org", "bench-password-123")
    overheads, totals = [], []
    for question, _ in answerable[:200]:
        final = None
        for event in ask(user, question, 5):
            final = event
        message = Message.objects.get(pk=final.data["message_id"])
        totals.append(message.total_ms)
        overheads.append(message.total_ms - (message.llm_ms or 0))
    print(f"app overhead per answer (total minus time waiting on the LLM), {len(overheads)} answers: "
          f"p50 {percentile(overheads, 50)} ms, p95 {percentile(overheads, 95)} ms")  # fmt: skip
    print(f"total per answer incl. the local fake LLM: p50 {percentile(totals, 50)} ms, "
          f"p95 {percentile(totals, 95)} ms")  # fmt: skip
    fake.stop()


def _score(scores: dict, texts: list[str], answers: list[str]) -> None:
    for rank, text in enumerate(texts, start=1):
        if any(answer in text for answer in answers):
            scores["hit@1"] += rank == 1
            scores["hit@5"] += 1
            scores["mrr"] += 1 / rank
            return


if __name__ == "__main__":
    main()
