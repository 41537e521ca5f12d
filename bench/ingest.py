"""Ingestion benchmark: parse+chunk throughput, embedding calls vs chunks, peak memory.

    .venv/bin/python bench/ingest.py [--pages 500]

Each measurement runs in its own process so that peak RSS belongs to that step alone. The
embedding step uses a throwaway embedded PostgreSQL and the local OpenAI-compatible test
server (deterministic vectors over real HTTP), so no API key or network is needed.
"""

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "toolkitrag.settings")

from throwaway_database import throwaway_database  # noqa: E402 - bench/ is on sys.path

WORDS = [
    "community",
    "plan",
    "budget",
    "volunteer",
    "resident",
    "risk",
    "flood",
    "heat",
    "power",
    "review",
    "meeting",
    "council",
    "report",
    "safety",
    "welfare",
    "centre",
    "contact",
    "training",
    "exercise",
    "equipment",
    "store",
    "leaflet",
    "network",
    "partner",
    "local",
    "support",
    "school",
    "church",
    "hall",
    "transport",
    "winter",
    "summer",
    "storm",
    "water",
    "road",
    "bridge",
    "data",
    "consent",
    "record",
]


def sentence(rng: random.Random, words: int = 18) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def generate(path: Path, pages: int, seed: int = 1) -> None:
    """About 500 words a page: a heading, three paragraphs, a list; a table every fifth page."""
    import docx

    rng = random.Random(seed)  # noqa: S311 - reproducible filler text
    document = docx.Document()
    for page in range(pages):
        if page % 10 == 0:
            document.add_heading(f"{page // 10 + 1} Part {page // 10 + 1}", level=1)
        document.add_heading(f"{page // 10 + 1}.{page % 10 + 1} Topic {page}", level=2)
        for _ in range(3):
            document.add_paragraph(" ".join(sentence(rng) for _ in range(6)))
        for _ in range(5):
            document.add_paragraph(sentence(rng, 10), style="List Bullet")
        if page % 5 == 0:
            table = document.add_table(rows=11, cols=3)
            for c, name in enumerate(("Action", "Owner", "When")):
                table.cell(0, c).text = name
            for r in range(1, 11):
                for c in range(3):
                    table.cell(r, c).text = sentence(rng, 4)
    document.save(path)


def zip_bomb(path: Path, member_mb: int) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("_rels/.rels", "<Relationships/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            block = b"\0" * (1024 * 1024)
            for _ in range(member_mb):
                member.write(block)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- steps, each run in a child process ----------------------------------------------------


def step_parse(path: str, pages: int) -> dict:
    import django

    django.setup()
    from toolkit.chunking import chunk_blocks
    from toolkit.docx_parser import parse_docx
    from toolkit.docx_validation import validate_docx

    started = time.perf_counter()
    validate_docx(Path(path))
    parsed = parse_docx(Path(path))
    parse_seconds = time.perf_counter() - started
    chunks = chunk_blocks(parsed.blocks, 350, 40)
    total = time.perf_counter() - started
    return {
        "pages": pages,
        "blocks": len(parsed.blocks),
        "chunks": len(chunks),
        "parse_s": round(parse_seconds, 2),
        "parse_chunk_s": round(total, 2),
        "pages_per_s": round(pages / total, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def step_bomb(path: str) -> dict:
    import django

    django.setup()
    from toolkit.docx_validation import DocxRejected, validate_docx

    declared = sum(info.file_size for info in zipfile.ZipFile(path).infolist())
    started = time.perf_counter()
    try:
        validate_docx(Path(path))
        outcome = "ACCEPTED (bug)"
    except DocxRejected as error:
        outcome = f"rejected: {error}"
    return {
        "file_kb": round(Path(path).stat().st_size / 1024, 1),
        "declared_mb": round(declared / 1024 / 1024),
        "outcome": outcome,
        "seconds": round(time.perf_counter() - started, 4),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def step_embed(path: str, changed_path: str) -> dict:
    with throwaway_database():
        return _embed_runs(path, changed_path)


def _embed_runs(path: str, changed_path: str) -> dict:
    from django.conf import settings

    from toolkit import ingestion, uploads
    from toolkit.models import Toolkit
    from toolkitrag.testing.fake_openai import FakeOpenAI

    server = FakeOpenAI(dimensions=settings.EMBEDDING_DIMENSIONS).start()
    settings.EMBEDDING_BACKEND, settings.OPENAI_BASE_URL = "openai", server.base_url
    settings.OPENAI_API_KEY, settings.EMBEDDING_MODEL = "bench", "bench-embedding"
    toolkit = Toolkit.objects.create(name="Bench")
    results = {}
    for label, source in (
        ("first upload", path),
        ("same file again", path),
        ("one section changed", changed_path),
    ):
        with open(source, "rb") as stream:
            document = uploads.create_version(
                toolkit=toolkit, version_tag=label, stream=stream, filename=Path(source).name
            )
        started = time.perf_counter()
        document = ingestion.ingest(document)
        results[label] = {
            "status": document.status,
            "chunks": document.chunks.count(),
            "embedding_calls": document.embedding_calls,
            "embedded": document.embeddings_computed,
            "reused_from_cache": document.embeddings_reused,
            "seconds": round(time.perf_counter() - started, 2),
        }
    server.stop()
    results["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return results


def run_step(*args: str) -> dict:
    command = [sys.executable, __file__, "--step", *args]
    output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT).stdout  # noqa: S603
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--bomb-mb", default="64,1024", help="declared sizes of the zip bombs, in MB")
    parser.add_argument("--step", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        name, *rest = args.step
        result = {"parse": lambda: step_parse(rest[0], int(rest[1])), "bomb": lambda: step_bomb(rest[0]),
                  "embed": lambda: step_embed(rest[0], rest[1])}[name]()  # fmt: skip
        print(json.dumps(result))
        return

    with tempfile.TemporaryDirectory() as tmp:
        big, changed, bomb = Path(tmp) / "big.docx", Path(tmp) / "changed.docx", Path(tmp) / "bomb.docx"
        started = time.perf_counter()
        generate(big, args.pages)
        generate(changed, args.pages)
        _change_one_section(changed)
        print(f"generated a {args.pages}-page document ({big.stat().st_size / 1024 / 1024:.1f} MB) "
              f"in {time.perf_counter() - started:.1f} s")  # fmt: skip
        print("parse + chunk:", json.dumps(run_step("parse", str(big), str(args.pages))))
        for size in (int(mb) for mb in args.bomb_mb.split(",")):
            zip_bomb(bomb, size)
            print(f"zip bomb ({size} MB):", json.dumps(run_step("bomb", str(bomb))))
        for label, figures in run_step("embed", str(big), str(changed)).items():
            print(f"embeddings, {label}:", json.dumps(figures))


def _change_one_section(path: Path) -> None:
    import docx

    document = docx.Document(str(path))
    for paragraph in document.paragraphs:
        if paragraph.style.name == "Normal" and paragraph.text:
            paragraph.text = "This paragraph was rewritten for the new version of the toolkit."
            break
    document.save(str(path))


if __name__ == "__main__":
    main()
