"""The answer without a chat model: quoted from the one section that answers best, readable.

It leads with that section's heading as a label, then quotes what answers the question: the
passage's best run of sentences, or the list items or table rows that match (a table keeps its
header; a list keeps the sentence that introduces it), each cited [1]. Other sections that also
answer are named once, as "See also" citations, never quoted into a collage. The text stays plain:
lists as "- " / "1. " lines, tables as Markdown-like "|" rows, which the chat renders as HTML
(toolkit/text_html.py).
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
STEPS = ("step", "item", "point", "stage", "thing", "one", "action", "task", "bit", "part")
STEP_WORDS = r"(?:" + "|".join(STEPS) + r")s?"
# As lexemes: the words of "the second step" that point into an answer rather than name a topic.
REFERENCE_WORDS = set(ORDINALS) | set(STEPS) | {"next"}
# "the second step", "the last one", "step 3" — not "who do we contact first?"
ORDINAL = re.compile(
    r"\b(" + "|".join(ORDINALS) + r")\s+(?:\w+\s+)?" + STEP_WORDS + r"\b"
    r"|\b(?:step|item|point|number|no\.)\s*(\d{1,2})\b",
    re.IGNORECASE,
)


def compose(question: str, assessment: Assessment, lead: Support, others: list[tuple[int, Support]]) -> str:
    """The answer text: `lead` is cited as [1]; `others` are (number, support) for "See also".
    `question` is the user's own words (an ordinal in them picks one list item)."""
    parts = [label(lead), quote(question, assessment, lead)]
    seen = {section(lead)}
    also = []
    for n, support in others:
        if support.coverage >= settings.RAG_MIN_SUPPORT and section(support) not in seen:
            seen.add(section(support))
            also.append(f"{heading(support)} [{n}]")
    if also:
        parts.append("See also: " + "; ".join(also[:SEE_ALSO]) + ".")
    return "\n\n".join(parts)


def heading(support: Support) -> str:
    return support.chunk.heading_path[-1] if support.chunk.heading_path else support.chunk.toolkit


def section(support: Support) -> tuple:
    """A section split over several chunks is one section."""
    return (support.chunk.document_id, tuple(support.chunk.heading_path))


def label(lead: Support) -> str:
    text = heading(lead).rstrip(":").rstrip()
    return text if text.endswith("?") else f"{text}:"


def quote(question: str, assessment: Assessment, lead: Support, n: int = 1) -> str:
    """What `lead` says in answer to the question, cited [n]."""
    units = lead.units
    if not units:
        return f"{' '.join(lead.chunk.text.split()) or heading(lead)} [{n}]"
    start, end = lead.window
    best = units[start]
    ordinal = wanted_item(question)
    if ordinal is not None:
        items = list_for(units, start, end)
        if items:
            chosen = item_numbered(items, ordinal)
            if chosen is not None:
                return f"{item_line(chosen)} [{n}]"
    if best.kind == "row":
        return table(units, best.block, assessment.weights, n)
    if best.kind == "item":
        return list_with_intro(units, best.block, assessment.weights, n)
    text = " ".join(u.text for u in units[start:end])
    following = units[end] if end < len(units) else None
    if following is not None and following.kind == "item":
        # The quote ends the paragraph that introduces a list (the steps, the checklist): the
        # list belongs to the answer.
        return f"{text} [{n}]\n" + items_text(units, following.block, assessment.weights, n)
    return f"{text} [{n}]"


def wanted_item(question: str) -> int | None:
    """2 for "the second step", 3 for "step 3", -1 for "the last one"; None when none is asked for."""
    match = ORDINAL.search(question)
    if not match:
        return None
    return ORDINALS[match.group(1).lower()] if match.group(1) else int(match.group(2))


def list_for(units: list[Unit], start: int, end: int) -> list[Unit]:
    """The list an ordinal question is about: the one quoted, the one the quote introduces, or
    else the passage's first list."""
    for unit in (*units[start:end], units[end] if end < len(units) else None):
        if unit is not None and unit.kind == "item":
            return [u for u in units if u.block == unit.block]
    first = next((u for u in units if u.kind == "item"), None)
    return [u for u in units if first is not None and u.block == first.block]


def item_numbered(items: list[Unit], ordinal: int) -> Unit | None:
    """The item whose own number is `ordinal` (a list continued by chunking counts on), else the
    item at that position; -1 is the last."""
    if ordinal == -1:
        return items[-1]
    by_marker = next((u for u in items if u.marker == f"{ordinal}."), None)
    if by_marker is not None:
        return by_marker
    return items[ordinal - 1] if 0 < ordinal <= len(items) else None


def item_line(unit: Unit) -> str:
    """A list item as its own line, with its own marker ("- ", "4. ")."""
    return f"{unit.marker or '-'} {unit.text}"


def items_text(units: list[Unit], block: int, weights: dict[str, float], n: int) -> str:
    """A list's items, each cited: all of a short list, else the ones that share the question's terms."""
    items = [u for u in units if u.block == block]
    if len(items) > MAX_ITEMS:
        items = [u for u in items if unit_coverage(u, weights) > 0] or items
    return "\n".join(f"{item_line(u)} [{n}]" for u in items[:MAX_ITEMS])


def list_with_intro(units: list[Unit], block: int, weights: dict[str, float], n: int) -> str:
    first = next(i for i, u in enumerate(units) if u.block == block)
    intro = units[first - 1] if first > 0 and units[first - 1].kind == "sentence" else None
    lines = items_text(units, block, weights, n)
    return f"{intro.text} [{n}]\n{lines}" if intro is not None else lines


def table(units: list[Unit], block: int, weights: dict[str, float], n: int) -> str:
    """The table's header and the rows that match best (or all of a small table), each row cited."""
    rows = [u for u in units if u.block == block]
    scored = [(unit_coverage(u, weights), i, u) for i, u in enumerate(rows)]
    top = max(score for score, _, _ in scored)
    chosen = sorted((i, u) for score, i, u in scored if score >= top * 0.5 and score > 0 or len(rows) <= 2)[
        :MAX_ROWS
    ] or [(0, rows[0])]
    lines = []
    if rows[0].header:
        header = rows[0].header.split("\n")
        columns = header[0].count(" | ") + 1
        lines += [*header, "| " + " | ".join("---" for _ in range(columns)) + " |"]
    for _, row in chosen:
        lines.append(f"{row.text[: -len(' |')]} [{n}] |")
    return "\n".join(lines)
