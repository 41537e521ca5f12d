"""How well the retrieved passages support an answer: the relevance gate and the answer's section.

A passage is cut into units a reader would quote — sentences, list items, table rows (each row
read with its table's header) — and each unit is scored by the share of the question's term
weight it covers, together with its section's headings. Terms are PostgreSQL's lexemes in the
toolkit's language (toolkits.language), weighted by BM25's idf over the versions searched, so
"activated" meets "Activation". Two choices keep one unusual word from refusing a good question:
words that only phrase a question ("what happens", "do I need": English only) carry no weight,
and a word the toolkit never uses weighs 1.5 times its rarest word, not more. With embeddings,
the gate adds the vector similarity (is_relevant). The thresholds are chosen with
bench/answer_quality.py (docs/benchmarks.md, "Relevance gate").
"""

import re
from dataclasses import dataclass, field

from django.conf import settings

from rag.retrieval import Retrieval, RetrievedChunk
from toolkit import search
from toolkit.access import Viewer
from toolkit.text_html import Block, parse

# Lexemes (as PostgreSQL's English configuration stems them) of words that phrase a question
# rather than name its topic; PostgreSQL's own stop words are already left out.
QUESTION_WORDS = {
    "happen", "need", "get", "got", "mean", "tell", "know", "want", "would", "could", "must",
    "might", "shall", "may", "say", "said", "someon", "anyon", "anyth", "someth", "thing", "way",
    "pleas", "ok", "okay", "exact", "realli", "actual", "also", "like", "els", "kind", "type",
    "much", "mani", "toolkit", "guid", "make", "use", "go", "give", "best", "good", "right", "possibl",
}  # fmt: skip
WINDOW_UNITS = 2  # a question is usually answered by one sentence, or two read together
STRONG_SUPPORT = 0.8
LEAD_VECTOR_WEIGHT = 0.5  # SQuAD, passage holding the answer first: 0.879 at 0, 0.908 at 0.5, 0.900 at 1
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9£$€])")


@dataclass
class Unit:
    kind: str  # "sentence", "item" (of a list) or "row" (of a table)
    text: str
    block: int  # units of one paragraph, list or table share a block number
    header: str = ""  # a table row's header row(s)
    marker: str = ""  # a list item's: "-", "4.", "b."
    terms: set[str] = field(default_factory=set)
    key_terms: set[str] = field(default_factory=set)  # a table row's first cell: what the row is about

    @property
    def words(self) -> int:
        return len(self.text.split())


@dataclass
class Support:
    """How well one retrieved chunk supports an answer."""

    chunk: RetrievedChunk
    units: list[Unit]
    coverage: float  # the best window's share of the question's weight, headings included
    window: tuple[int, int]  # that window: units[start:end]
    heading_coverage: float  # share of the question's weight its headings alone cover
    window_key: tuple = ()  # how the window won within the chunk (see best_window)
    heading_terms: set[str] = field(default_factory=set)
    single: float = 0.0  # the best single unit's coverage, headings included

    def coverage_of(self, weights: dict[str, float]) -> float:
        """How well this chunk supports another reading of the question (its `weights`)."""
        return best_window(self.units, self.heading_terms, weights, sum(weights.values()))[0]

    @property
    def rank_key(self) -> tuple:
        """Which chunk an answer leads with: the one with the best single sentence (or item, or
        row), plus half its vector similarity when there are embeddings — on SQuAD that finds the
        passage holding the answer more often than the best pair or retrieval's first
        (docs/benchmarks.md); among equals, the section whose heading names the question's topic,
        then the window's own words, a row about the asked-for thing, the shorter quote."""
        similarity = self.chunk.vector_similarity or 0.0
        lead = self.single + LEAD_VECTOR_WEIGHT * similarity
        return (round(lead, 6), round(self.heading_coverage, 6), *self.window_key[1:])


@dataclass
class Assessment:
    """The question's weighted terms and every retrieved chunk's support, in retrieval order."""

    weights: dict[str, float]
    supports: list[Support]
    unknown: set[str] = field(default_factory=set)  # the question's words the toolkit never uses

    @property
    def lead(self) -> Support | None:
        """The chunk an answer leads with (Support.rank_key); retrieval order breaks ties."""
        return max(self.supports, key=lambda s: s.rank_key, default=None)

    @property
    def coverage(self) -> float:
        """The gate's support: the most any retrieved chunk's best window covers of the question."""
        return max((s.coverage for s in self.supports), default=0.0)


def passage_units(text: str) -> list[Unit]:
    """A chunk's text as quotable units: sentences, list items and table rows, read with
    toolkit.text_html.parse (the one reader of the text format)."""
    units: list[Unit] = []
    for number, block in enumerate(parse(text), start=1):
        if block.kind in ("paragraph", "label"):
            line = " ".join(block.lines)
            units += [Unit("sentence", s.strip(), number) for s in SENTENCE_END.split(line) if s.strip()]
        elif block.kind in ("ul", "ol"):
            units += list_units(block, number)
        elif block.kind == "table":
            header_count = block.header_rows or 0
            header, rows = block.rows[:header_count], block.rows[header_count:]
            if not rows:  # a header-only table: its header is its content
                header, rows = [], block.rows
            header_text = "\n".join(row_text(row) for row in header)
            units += [Unit("row", row_text(row), number, header_text) for row in rows]
    return units


def list_units(block: Block, number: int) -> list[Unit]:
    """A list's items with their own markers ("4." stays 4 in a list that chunking continued);
    nested lists follow their item, in the same block."""
    units = []
    for position, item in enumerate(block.items):
        marker = "-" if block.kind == "ul" else ordinal_marker(block, block.start + position)
        units.append(Unit("item", " ".join(item.lines), number, marker=marker))
        for child in item.children:
            units += list_units(child, number)
    return units


def ordinal_marker(block: Block, n: int) -> str:
    if block.numbering == "1":
        return f"{n}."
    letter = chr(ord("a") + (n - 1) % 26)
    return f"{letter.upper() if block.numbering == 'A' else letter}."


def row_text(cells: list[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def first_cell(unit: Unit) -> str:
    return unit.text.strip()[1:].split(" | ")[0] if unit.kind == "row" else ""


def question_weights(
    query: str, version_ids: list[int] | None, unknown_weight: float | None = None, *, viewer: Viewer
) -> tuple[dict[str, float], set[str]]:
    """The question's topic terms and their weights (see the module's docstring), and those the
    toolkit never uses; `unknown_weight` overrides RAG_UNKNOWN_TERM_WEIGHT (a reply in a
    conversation: see rag.questions)."""
    if unknown_weight is None:
        unknown_weight = settings.RAG_UNKNOWN_TERM_WEIGHT
    weights, unknown = {}, set()
    for term, weight in search.term_weights(query, version_ids, viewer=viewer).items():
        if term in QUESTION_WORDS or len(term) < 2:
            continue
        if not weight.chunks:
            unknown.add(term)
        weights[term] = weight.idf if weight.chunks else weight.rarest_idf * unknown_weight
    return {term: weight for term, weight in weights.items() if weight > 0}, unknown


def assess(retrieval: Retrieval) -> Assessment:
    """Score every retrieved chunk (computed once per retrieval, then kept on it)."""
    if retrieval.assessment is not None:
        return retrieval.assessment
    weights, unknown = (
        question_weights(
            retrieval.query, retrieval.version_ids, retrieval.unknown_term_weight, viewer=retrieval.viewer
        )
        if retrieval.chunks
        else ({}, set())
    )
    per_chunk = [passage_units(chunk.text) for chunk in retrieval.chunks]
    units = [unit for chunk_units in per_chunk for unit in chunk_units]
    # One round trip for every text's lexemes: headings, then units (with a row's header), then
    # rows' first cells.
    texts = [" ".join(chunk.heading_path) for chunk in retrieval.chunks]
    texts += [f"{u.header} {u.text}" for u in units] + [first_cell(u) for u in units]
    # each text read in its chunk's language, as the keyword index read it
    chunk_languages = [chunk.language for chunk in retrieval.chunks]
    unit_languages = [lang for lang, us in zip(chunk_languages, per_chunk, strict=True) for _ in us]
    languages = chunk_languages + unit_languages * 2
    terms = search.lexemes(texts, languages) if weights else [set() for _ in texts]
    heading_terms, n = terms[: len(per_chunk)], len(per_chunk)
    for unit, unit_terms, key_terms in zip(
        units, terms[n : n + len(units)], terms[n + len(units) :], strict=True
    ):
        unit.terms, unit.key_terms = unit_terms, key_terms
    total = sum(weights.values())
    supports = []
    for chunk, chunk_units, headings in zip(retrieval.chunks, per_chunk, heading_terms, strict=True):
        coverage, window, key, single = best_window(chunk_units, headings, weights, total)
        heading_coverage = sum(weights[t] for t in headings if t in weights) / total if total else 0.0
        supports.append(
            Support(chunk, chunk_units, coverage, window, heading_coverage, key, headings, single)
        )
    retrieval.assessment = Assessment(weights, supports, unknown)
    return retrieval.assessment


def best_window(
    units: list[Unit], headings: set[str], weights: dict[str, float], total: float
) -> tuple[float, tuple[int, int], tuple, float]:
    """The run of at most WINDOW_UNITS consecutive units (same block) covering most of the
    question, with its headings. Among equals: the one whose own words cover more, then a table row
    whose first cell names the asked-for thing, then the shorter quote. Returns (coverage, window,
    key, and the best single unit's coverage)."""
    if not total or not units:
        return 0.0, (0, min(1, len(units))), (), 0.0
    best, best_key, single = (0.0, (0, 1)), (), 0.0
    for start in range(len(units)):
        covered, own, words = set(headings), set(), 0
        for end in range(start + 1, min(start + WINDOW_UNITS, len(units)) + 1):
            if units[end - 1].block != units[start].block:
                break
            covered |= units[end - 1].terms
            own |= units[end - 1].terms
            words += units[end - 1].words
            share = sum(weights[t] for t in covered if t in weights) / total
            key = (
                round(share, 6),
                round(sum(weights[t] for t in own if t in weights) / total, 6),
                bool(units[start].key_terms & weights.keys()),
                -words,
            )
            if end == start + 1:
                single = max(single, share)
            if not best_key or key > best_key:
                best, best_key = (share, (start, end)), key
    return best[0], best[1], best_key, single


def unit_coverage(unit: Unit, weights: dict[str, float]) -> float:
    total = sum(weights.values())
    return sum(weights[t] for t in unit.terms if t in weights) / total if total else 0.0


def is_relevant(retrieval: Retrieval) -> bool:
    """Whether the passages plausibly answer the question: the best support alone without
    embeddings; with them, support + RAG_GATE_VECTOR_WEIGHT × the best passage's similarity to the
    question (the two are complementary: one counts shared words, the other meaning), or a support
    of STRONG_SUPPORT. Thresholds in settings, chosen with bench/answer_quality.py."""
    if not retrieval.chunks:
        return False
    support = assess(retrieval).coverage
    similarities = [c.vector_similarity for c in retrieval.chunks if c.vector_similarity is not None]
    if not similarities:
        return support >= settings.RAG_MIN_SUPPORT
    if support >= STRONG_SUPPORT:  # a passage with (nearly) all the question's words: a weak
        return True  # embedding does not refuse it (SQuAD: costs 0.1 pt of refusals)
    hybrid = support + settings.RAG_GATE_VECTOR_WEIGHT * max(similarities)
    return hybrid >= settings.RAG_MIN_HYBRID_SUPPORT
