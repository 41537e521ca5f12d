"""The answer without a chat model: quoted from the one section that answers best, readable.

It leads with that section's heading as a label, then quotes what answers the question: the
passage's best run of sentences, or the list items or table rows that match (a table keeps its
header; a list keeps the sentence that introduces it), each cited [1]. Other sections that also
answer are named once, as "See also" citations, never quoted into a collage. The text stays plain:
lists as "- " / "1. " lines, tables as Markdown-like "|" rows, which the chat renders as HTML.
"""

import re

from django.conf import settings

from rag.relevance import Assessment, Support, Unit, unit_coverage

MAX_ROWS = 8
MAX_ITEMS = 10
SEE_ALSO = 2
ORDINALS = {
    "first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4,
    "fifth": 5, "5th": 5, "sixth": 6, "6th": 6, "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10,
    "last": -1, "final": -1,
}  # fmt: skip
ORDINAL = re.compile(
    r"\b(" + "|".join(ORDINALS) + r")\b|\b(?:step|item|point|number|no\.?)\s*(\d{1,2})\b", re.I
)
ITEM_MARK = re.compile(r"^(?:[-•*]|\d{1,3}[.)])\s+")


def compose(question: str, assessment: Assessment, lead: Support, others: list[tuple[int, Support]]) -> str:
    """The answer text: `lead` is cited as [1]; `others` are (number, support) for "See also"."""
    label = lead.chunk.heading_path[-1] if lead.chunk.heading_path else lead.chunk.toolkit
    body = quote(question, assessment, lead)
    parts = [f"{label}:", body]
    also = [
        f"{' > '.join(s.chunk.heading_path[-1:]) or s.chunk.toolkit} [{n}]"
        for n, s in others
        if s.coverage >= settings.RAG_MIN_SUPPORT and s.chunk.heading_path != lead.chunk.heading_path
    ][:SEE_ALSO]
    if also:
        parts.append("See also: " + "; ".join(also) + ".")
    return "\n\n".join(parts)


def quote(question: str, assessment: Assessment, lead: Support, n: int = 1) -> str:
    """What `lead` says in answer to the question, cited [n]."""
    units = lead.units
    if not units:
        return f"{' '.join(lead.chunk.text.split())} [{n}]"
    ordinal = wanted_item(question)
    lists = [u for u in units if u.kind == "item"]
    if ordinal is not None and lists:
        block = lists[0].block if ordinal != -1 else lists[-1].block
        items = [u for u in units if u.block == block]
        index = ordinal - 1 if ordinal > 0 else len(items) - 1
        if 0 <= index < len(items):
            return f"{item_line(items[index], index + 1)} [{n}]"
    start, end = lead.window
    best = units[start]
    if best.kind == "row":
        return table(units, best.block, assessment.weights, n)
    if best.kind == "item":
        return list_with_intro(units, best.block, assessment.weights, n)
    text = " ".join(u.text for u in units[start:end])
    following = units[end] if end < len(units) else None
    if following is not None and following.kind == "item":
        # The quote ends the paragraph that introduces a list (the steps, the checklist): the
        # list belongs to the answer.
        return f"{text} [{n}]\n" + items_text(units, following.block, assessment.weights, n, whole=False)
    return f"{text} [{n}]"


def wanted_item(question: str) -> int | None:
    """1 for "the first step", 2 for "step 2", -1 for "the last one"; None when none is asked for."""
    match = ORDINAL.search(question)
    if not match:
        return None
    return ORDINALS[match.group(1).lower()] if match.group(1) else int(match.group(2))


def item_line(unit: Unit, number: int) -> str:
    """A list item as its own line, numbered lists keeping their numbers."""
    text = ITEM_MARK.sub("", unit.text)
    return f"{number}. {text}" if re.match(r"^\d", unit.text) else f"- {text}"


def items_text(units: list[Unit], block: int, weights: dict[str, float], n: int, whole: bool) -> str:
    """A list's items, each cited: all of a short list, else the ones that share the question's terms."""
    items = [(i, u) for i, u in enumerate(u for u in units if u.block == block)]
    if not whole and len(items) > MAX_ITEMS:
        items = [(i, u) for i, u in items if unit_coverage(u, weights) > 0][:MAX_ITEMS] or items[:MAX_ITEMS]
    return "\n".join(f"{item_line(u, i + 1)} [{n}]" for i, u in items[:MAX_ITEMS])


def list_with_intro(units: list[Unit], block: int, weights: dict[str, float], n: int) -> str:
    first = next(i for i, u in enumerate(units) if u.block == block)
    intro = units[first - 1] if first > 0 and units[first - 1].kind == "sentence" else None
    lines = items_text(units, block, weights, n, whole=False)
    return f"{intro.text} [{n}]\n{lines}" if intro is not None else lines


def table(units: list[Unit], block: int, weights: dict[str, float], n: int) -> str:
    """The table's header and the rows that match best (or all of a small table), each row cited."""
    rows = [u for u in units if u.block == block]
    scored = [(unit_coverage(u, weights), i, u) for i, u in enumerate(rows)]
    top = max(score for score, _, _ in scored)
    chosen = sorted((i, u) for score, i, u in scored if score >= top * 0.5 and score > 0 or len(rows) <= 2)[
        :MAX_ROWS
    ] or [(0, rows[0])]
    header = rows[0].header
    lines = []
    if header:
        cells = header.strip().strip("|").split("|")
        lines += [header, "| " + " | ".join("---" for _ in cells) + " |"]
    for _, row in chosen:
        lines.append(f"{row.text.rstrip().rstrip('|').rstrip()} [{n}] |")
    return "\n".join(lines)
