"""Golden run benchmark: 200 golden questions on a 1,000-section toolkit, time per question
(p50/p95) and in total, through the real answer path (rag.golden.run: retrieval, gate,
extractive answer, citation check, judging, one result row per question).

    .venv/bin/python bench/golden.py [--sections 1000] [--questions 200] [--embeddings none|local]

Runs on a throwaway embedded PostgreSQL; prints the figures and writes bench/results/golden.json.
Each section names its own made-up subject (a word no other section uses), which one
question per chosen section asks about, expecting that section and the word for who does it.
"""

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "toolkitrag.settings")

from ingest import sentence  # noqa: E402 - bench/ is on sys.path
from latency import p50_p95  # noqa: E402
from throwaway_database import throwaway_database, use_retrieval  # noqa: E402

SYLLABLES = ["ba", "ko", "ri", "mu", "te", "lo", "san", "vi", "del", "gu", "ne", "pa", "zo", "fi", "ur", "ka"]
ROLES = ["treasurer", "coordinator", "secretary", "warden", "chair", "caretaker", "librarian", "steward"]
PERIODS = ["week", "month", "quarter", "year"]
PER_PART = 20  # sections under each top-level heading


def subject(i: int) -> str:
    """A made-up word of its own for section i (three syllables, unique up to 4,096 sections)."""
    n = len(SYLLABLES)
    return SYLLABLES[i % n] + SYLLABLES[(i // n) % n] + SYLLABLES[(i // n // n) % n] + "ment"


def toolkit_spec(sections: int, seed: int = 1) -> tuple[list[tuple], list[dict]]:
    """The .docx spec (docx_factory) and, per section, its heading path, subject and who reviews it."""
    rng = random.Random(seed)  # noqa: S311 - reproducible filler text
    spec, facts = [], []
    for i in range(sections):
        part = i // PER_PART + 1
        if i % PER_PART == 0:
            spec.append(("h1", f"{part} Part {part}"))
        heading = f"{part}.{i % PER_PART + 1} The {subject(i)}"
        role, period = rng.choice(ROLES), rng.choice(PERIODS)
        spec.append(("h2", heading))
        spec.append(("p", " ".join(sentence(rng) for _ in range(4))))
        spec.append(("p", f"The {subject(i)} is reviewed by the {role} every {period}. " + sentence(rng)))
        facts.append({"heading": f"{part} Part {part} > {heading}", "subject": subject(i), "role": role})
    return spec, facts


def measure(sections: int, questions: int, embeddings: str) -> dict:
    import io

    from django.conf import settings

    from rag import golden
    from rag.models import GoldenQuestion
    from toolkit import ingestion, uploads
    from toolkit.models import Toolkit
    from toolkitrag.testing.docx_factory import make_docx

    settings.CHAT_BACKEND = "none"  # extractive answers: the figures are the app's, not a model's
    use_retrieval(embeddings)
    spec, facts = toolkit_spec(sections)
    started = time.perf_counter()
    toolkit = Toolkit.objects.create(name="Bench Toolkit")
    version = uploads.create_version(
        toolkit=toolkit, version_tag="v1", stream=io.BytesIO(make_docx(spec)), filename="bench.docx"
    )
    version = ingestion.ingest(version)
    if version.status != "ready":
        raise SystemExit(f"ingestion failed: {version.error}")
    ingest_s = time.perf_counter() - started
    chosen = random.Random(2).sample(facts, min(questions, len(facts)))  # noqa: S311
    for fact in chosen:
        GoldenQuestion.objects.create(
            toolkit=toolkit,
            question=f"Who reviews the {fact['subject']}?",
            expected_sections=golden.expected_sections(version, [fact["heading"]]),
            must_contain=[fact["role"]],
        )
    started = time.perf_counter()
    run = golden.run_version(version, "bench")
    total_s = time.perf_counter() - started
    per_question = list(run.results.values_list("total_ms", flat=True))
    return {
        "sections": sections,
        "chunks": version.chunk_count,
        "questions": len(chosen),
        "embeddings": embeddings,
        "passed": run.passed,
        "failed": run.failed,
        "ingest_s": round(ingest_s, 1),
        "run_total_s": round(total_s, 2),
        "per_question": p50_p95([float(ms) for ms in per_question]),
        "per_question_mean_ms": round(1000 * total_s / max(len(chosen), 1), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", type=int, default=1000)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--embeddings", choices=["none", "local"], default="none")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "golden.json")
    args = parser.parse_args()
    with throwaway_database():  # uploads and the keyword index go in its folder too
        figures = measure(args.sections, args.questions, args.embeddings)
    print(
        f"golden run: {figures['questions']} questions on {figures['sections']} sections "
        f"({figures['chunks']} chunks, embeddings {figures['embeddings']}): "
        f"{figures['passed']} passed, {figures['failed']} failed"
    )
    print(
        f"time: {figures['run_total_s']} s in total, per question p50 {figures['per_question']['p50_ms']} ms, "
        f"p95 {figures['per_question']['p95_ms']} ms (ingestion {figures['ingest_s']} s, not counted)"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
