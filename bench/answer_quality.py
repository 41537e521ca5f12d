"""The whole question → answer path, measured: answered, right section, refused, follow-ups.

    .venv/bin/python bench/answer_quality.py [--modes keyword,local,chat] [--sample N]
        [--json bench/results/answer_quality.json] [--dump answers.jsonl]

Every question goes through `rag.questions.ask` — rewrite, retrieval, relevance gate, answer,
checked citations — exactly as the chat asks it, in a conversation when it is a follow-up (the
earlier user turns are asked first, in the same conversation, so the history is our own answers).
Data, each set asked against its own toolkits only:
- squad: SQuAD dev-even articles as .docx (as bench/squad.py builds them); the even-numbered
  half is ingested and its questions are in scope, the other half's questions are out of scope.
- doc2dial: a US government guidance page and real user turns about it (first turns, follow-ups,
  questions about other agencies' pages, which it does not cover). Ten questions: a check only.
- demo: the demo toolkit and bench/demo_questions.jsonl, questions written the way its users ask
  (paraphrases, follow-ups, near-topic questions it does not cover). Never tune the toolkit to it.
Figures per data set and mode: in-scope answered rate, right-section rate (of all in-scope
questions: answered, and the first citation is the gold section or holds the answer), out-of-scope
refusal rate, follow-up right-section rate, p50/p95 time per answer (the whole `ask`).
Modes: keyword (no embeddings, no model: the default install), local (all-MiniLM-L6-v2 on the CPU,
`make install-local`), chat (the chat model of OPENAI_API_KEY / OPENAI_BASE_URL, when one is set).
"""

import argparse
import io
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
os.environ.setdefault("RATE_LIMIT_ENABLED", "false")
# A chat model is configured by OPENAI_API_KEY and/or OPENAI_BASE_URL; it is used in the chat mode
# only (embeddings stay local in every mode, so that the modes differ by one thing at a time).
CHAT_CONFIGURED = bool(os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"))
os.environ["EMBEDDING_BACKEND"] = "none"

from squad import article_docx  # noqa: E402 - bench/ is on sys.path
from throwaway_database import throwaway_database  # noqa: E402

SHARED = ROOT.parent / "shared" / "eval"
SQUAD = SHARED / "squad" / "dev-even.json"
DOC2DIAL = SHARED / "doc2dial"
DEMO_DOCX = ROOT / "demo" / "community-resilience-toolkit.docx"
DEMO_QUESTIONS = ROOT / "bench" / "demo_questions.jsonl"


def flat(text: str) -> str:
    return " ".join(text.lower().split())


def load_squad(sample: int | None, limit: int | None) -> tuple[list[dict], list[dict]]:
    """(articles to ingest, questions); out-of-scope questions come from the articles left out."""
    articles = json.loads(SQUAD.read_text())["data"][: 2 * limit if limit else None]
    questions = []
    for index, article in enumerate(articles):
        in_scope = index % 2 == 0
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                questions.append(
                    {
                        "id": qa["id"],
                        "kind": "in-scope" if in_scope else "out-of-scope",
                        "question": qa["question"],
                        "history": [],
                        "answers": [a["text"] for a in qa["answers"]] if in_scope else [],
                        "sections": [],
                    }
                )
    return articles[0::2], evenly(questions, sample)


def evenly(questions: list[dict], sample: int | None) -> list[dict]:
    """At most `sample` questions of each kind, spread evenly over the set (deterministic)."""
    if not sample:
        return questions
    picked = []
    for kind in ("in-scope", "follow-up", "out-of-scope"):
        of_kind = [q for q in questions if q["kind"] == kind]
        step = max(len(of_kind) / sample, 1)
        picked += [of_kind[int(i * step)] for i in range(min(sample, len(of_kind)))]
    return picked


def load_doc2dial() -> list[dict]:
    questions = []
    for line in (DOC2DIAL / "questions.jsonl").read_text().splitlines():
        row = json.loads(line)
        kind = (
            "out-of-scope" if row["kind"] == "unanswerable" else row["kind"].replace("first-turn", "in-scope")
        )
        questions.append(
            {
                "id": row["id"],
                "kind": kind,
                "question": row["question"],
                "history": [turn["text"] for turn in row["history"] if turn["role"] == "user"],
                "answers": row["answer_spans"] if kind != "out-of-scope" else [],
                "sections": [row["answer_section"]] if kind != "out-of-scope" else [],
            }
        )
    return questions


def load_demo() -> list[dict]:
    questions = []
    for line in DEMO_QUESTIONS.read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        kind = row["kind"]
        questions.append(
            {
                "id": row["id"],
                "kind": "follow-up" if kind == "follow-up" else kind,
                "question": row["question"],
                "history": row.get("history") or [],
                "answers": [row["answer_contains"]] if row.get("answer_contains") else [],
                "sections": [row["gold_section"]] if row.get("gold_section") else [],
            }
        )
    return questions


def ingest(name: str, docx_bytes: bytes) -> int:
    from toolkit import ingestion, uploads
    from toolkit.models import Toolkit

    toolkit = Toolkit.objects.create(name=name)
    version = uploads.create_version(
        toolkit=toolkit,
        version_tag="v1",
        stream=io.BytesIO(docx_bytes),
        filename=f"{name[:80]}.docx",
        activate=True,
    )
    ingestion.ingest(version)
    return toolkit.pk


def is_right(question: dict, citation: dict | None, chunk_texts: dict[int, str]) -> bool:
    """The first citation is the gold section, or the passage it cites holds the answer."""
    if citation is None:
        return False
    path = citation.get("heading_path") or []
    if question["sections"] and path and flat(path[-1]) in {flat(s) for s in question["sections"]}:
        return True
    text = flat(chunk_texts.get(citation["chunk_id"], ""))
    return any(flat(answer) in text for answer in question["answers"])


def ask_one(user, question: dict, toolkit_ids: list[int]) -> tuple[dict, float]:
    from rag.models import Conversation
    from rag.questions import ask

    conversation = None
    for earlier in question["history"]:
        final = last_event(ask(user, earlier, 5, conversation, toolkit_ids))
        conversation = Conversation.objects.get(pk=final["conversation_id"])
    started = time.perf_counter()
    final = last_event(ask(user, question["question"], 5, conversation, toolkit_ids))
    return final, (time.perf_counter() - started) * 1000


def last_event(events) -> dict:
    final = {}
    for event in events:
        if event.name == "final":
            final = event.data
    return final


def run_set(user, name: str, questions: list[dict], toolkit_ids: list[int], dump) -> dict:
    from rag.models import Message
    from toolkit.models import Chunk

    chunk_texts = dict(Chunk.objects.filter(document__toolkit_id__in=toolkit_ids).values_list("id", "text"))
    counts = {kind: {"n": 0, "answered": 0, "right": 0} for kind in ("in-scope", "follow-up", "out-of-scope")}
    times, signals = [], []
    for question in questions:
        final, ms = ask_one(user, question, toolkit_ids)
        times.append(ms)
        retrieval = Message.objects.values_list("retrieval", flat=True).get(pk=final["message_id"])
        signals.append((question["kind"], *gate_signals(retrieval)))
        first = (final.get("citations") or [None])[0]
        right = bool(final.get("answered")) and is_right(question, first, chunk_texts)
        tally = counts[question["kind"]]
        tally["n"] += 1
        tally["answered"] += bool(final.get("answered"))
        tally["right"] += right
        if dump:
            message = Message.objects.get(pk=final["message_id"])
            record = {
                "set": name,
                **{k: question[k] for k in ("id", "kind", "question", "history")},
                "answered": final.get("answered"),
                "right": right,
                "rewritten": message.rewritten_query,
                "first_citation": first and " > ".join(first.get("heading_path") or []),
                "retrieval": message.retrieval,
                "answer": final.get("answer", "")[:600],
                "gate": gate_details(message),
                "answer_in": [  # which retrieved chunks hold an answer (retrieval order)
                    any(flat(a) in flat(chunk_texts.get(c["chunk_id"], "")) for a in question["answers"])
                    for c in message.retrieval
                ],
                "ms": round(ms, 1),
            }
            dump.write(json.dumps(record) + "\n")
    return {"counts": counts, "times": times, "signals": signals}


def gate_signals(retrieval: list[dict]) -> tuple[float, float | None]:
    """What the relevance gate decided on: the best support and the best vector similarity."""
    support = max((c.get("support") or 0.0 for c in retrieval), default=0.0)
    similarities = [c["vector_similarity"] for c in retrieval if c.get("vector_similarity") is not None]
    return support, max(similarities) if similarities else None


def roc(signals: list[tuple[str, float, float | None]]) -> list[tuple[float, float, float]]:
    """(threshold, in-scope answered, out-of-scope refused) for the gate's score at thresholds
    around the operating point: support alone, or support + RAG_GATE_VECTOR_WEIGHT x similarity
    (a support of STRONG_SUPPORT passes either way), as rag.relevance decides."""
    from django.conf import settings

    from rag.relevance import STRONG_SUPPORT

    hybrid = any(similarity is not None for _, _, similarity in signals)
    current = settings.RAG_MIN_HYBRID_SUPPORT if hybrid else settings.RAG_MIN_SUPPORT
    step = 0.1 if hybrid else 0.05

    def answered(support: float, similarity: float | None, threshold: float) -> bool:
        if similarity is None:
            return support >= threshold
        score = support + settings.RAG_GATE_VECTOR_WEIGHT * similarity
        return support >= STRONG_SUPPORT or score >= threshold

    rows = []
    for i in range(-4, 5):
        threshold = round(current + i * step, 3)
        ins = [answered(s, v, threshold) for kind, s, v in signals if kind == "in-scope"]
        outs = [not answered(s, v, threshold) for kind, s, v in signals if kind == "out-of-scope"]
        if ins and outs:
            rows.append((threshold, sum(ins) / len(ins), sum(outs) / len(outs)))
    return rows


def gate_details(message) -> dict:
    """What the relevance gate saw, term by term, so that other weightings can be tried offline."""
    from rag.relevance import assess
    from rag.retrieval import retrieve
    from toolkit import search
    from toolkit.access import EVERY_TOOLKIT

    retrieval = retrieve(message.rewritten_query, message.top_k, message.document_ids, viewer=EVERY_TOOLKIT)
    weights = search.term_weights(message.rewritten_query, message.document_ids, viewer=EVERY_TOOLKIT)
    assessment = assess(retrieval)
    return {
        "terms": {t: [w.chunks, round(w.idf, 3), round(w.rarest_idf, 3)] for t, w in weights.items()},
        "chunks": [
            {
                "vector": s.chunk.vector_similarity,
                "headings": sorted(set(weights) & s.heading_terms),
                "units": [[u.block, sorted(set(weights) & u.terms), u.text] for u in s.units],
            }
            for s in assessment.supports
        ],
    }


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def figures(result: dict) -> dict:
    c, times = result["counts"], sorted(result["times"])
    return {
        "in_scope": c["in-scope"]["n"],
        "answered": rate(c["in-scope"]["answered"], c["in-scope"]["n"]),
        "right_section": rate(c["in-scope"]["right"], c["in-scope"]["n"]),
        "out_of_scope": c["out-of-scope"]["n"],
        "refused": rate(c["out-of-scope"]["n"] - c["out-of-scope"]["answered"], c["out-of-scope"]["n"]),
        "follow_ups": c["follow-up"]["n"],
        "follow_up_right": rate(c["follow-up"]["right"], c["follow-up"]["n"]),
        "p50_ms": round(statistics.median(times), 1) if times else None,
        "p95_ms": round(times[min(len(times) - 1, int(len(times) * 0.95))], 1) if times else None,
    }


def set_mode(mode: str) -> None:
    from django.conf import settings

    settings.EMBEDDING_BACKEND = "local" if mode in ("local", "chat") else "none"
    settings.EMBEDDING_MODEL = settings.LOCAL_MODEL_NAME[settings.EMBEDDING_LOCAL_RUNTIME]
    settings.CHAT_BACKEND = "openai" if mode == "chat" else "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default="keyword,local,chat", help="comma-separated: keyword, local, chat")
    parser.add_argument(
        "--sets", default="squad,doc2dial,demo", help="comma-separated: squad, doc2dial, demo"
    )
    parser.add_argument("--sample", type=int, help="at most N SQuAD questions of each kind (default: all)")
    parser.add_argument("--squad-articles", type=int, help="ingest only N SQuAD articles (smoke test)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--dump", type=Path, help="write every answer with its retrieval signals (JSON lines)"
    )
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    sets = [s for s in args.sets.split(",") if s]
    if "chat" in modes and not CHAT_CONFIGURED:
        print("chat mode skipped: no chat model is configured (OPENAI_API_KEY / OPENAI_BASE_URL)")
        modes.remove("chat")
    if not SHARED.exists() and {"squad", "doc2dial"} & set(sets):
        sys.exit(f"needs {SHARED} (the shared evaluation data) for the squad and doc2dial sets")
    with throwaway_database():
        run(args, modes, sets)


def run(args, modes: list[str], sets: list[str]) -> None:
    from django.contrib.auth import get_user_model

    # Ingest once, with embeddings when any mode uses them; the keyword mode then simply has none.
    set_mode("local" if {"local", "chat"} & set(modes) else "keyword")
    data: dict[str, tuple[list[dict], list[int]]] = {}
    started = time.perf_counter()
    if "squad" in sets:
        articles, questions = load_squad(args.sample, args.squad_articles)
        ids = [ingest(a["title"].replace("_", " "), article_docx(a)) for a in articles]
        data["squad"] = (questions, ids)
    if "doc2dial" in sets:
        page = next((DOC2DIAL / "docx").glob("*.docx"))
        data["doc2dial"] = (load_doc2dial(), [ingest("doc2dial: " + page.stem[:60], page.read_bytes())])
    if "demo" in sets:
        data["demo"] = (load_demo(), [ingest("Community Resilience Toolkit", DEMO_DOCX.read_bytes())])
    print(f"ingested {', '.join(data)} in {time.perf_counter() - started:.0f} s")

    user = get_user_model().objects.create_user("bench")
    dump = args.dump.open("w") if args.dump else None
    table, curves = {}, {}
    for mode in modes:
        set_mode(mode)
        for name, (questions, toolkit_ids) in data.items():
            result = run_set(user, name, questions, toolkit_ids, dump)
            table[(mode, name)] = figures(result)
            if name == "squad":
                curves[mode] = roc(result["signals"])
            print(f"  {mode:<8} {name:<9} done", flush=True)
    if dump:
        dump.close()

    print(f"\n{'mode':<8} {'set':<9} {'in-scope':>8} {'answered':>8} {'right':>6} {'out':>5} {'refused':>7} "
          f"{'follow':>6} {'f-right':>7} {'p50 ms':>7} {'p95 ms':>7}")  # fmt: skip
    for (mode, name), f in table.items():
        print(
            f"{mode:<8} {name:<9} {f['in_scope']:>8} {show(f['answered']):>8} {show(f['right_section']):>6} "
            f"{f['out_of_scope']:>5} {show(f['refused']):>7} {f['follow_ups']:>6} {show(f['follow_up_right']):>7} "
            f"{show(f['p50_ms']):>7} {show(f['p95_ms']):>7}"
        )
    for mode, curve in curves.items():
        score = "support" if mode == "keyword" else "support + weight x similarity"
        print(
            f"\nrelevance gate on SQuAD, {mode} ({score}): threshold, in-scope answered, out-of-scope refused"
        )
        for threshold, answered, refused in curve:
            print(f"  {threshold:5.2f}  {answered:.3f}  {refused:.3f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {f"{mode}/{name}": f for (mode, name), f in table.items()}
        payload["gate_roc_squad"] = {mode: curve for mode, curve in curves.items()}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")


def show(value) -> str:
    return "—" if value is None else f"{value:.2f}" if isinstance(value, float) and value <= 1 else str(value)


if __name__ == "__main__":
    main()
