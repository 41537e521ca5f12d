"""Messages and feedback as CSV, streamed row by row so a large export needs little memory."""

import csv
import unicodedata
from collections.abc import Iterable, Iterator

from rag.analytics import Filters
from rag.models import Feedback

# A cell starting with one of these is read as a formula by spreadsheets (CSV injection);
# a leading apostrophe makes it text. With the ASCII ones, their full-width and small forms and
# the minus sign, which spreadsheets with East Asian input settings read as the ASCII ones.
FORMULA_STARTS = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20\ufe66\ufe62\ufe63\ufe6b\u2212")
# Characters that show nothing, so a formula behind them looks like the cell's start to a reader
# (and to spreadsheets that skip them): controls, format characters (zero-width space and joiners,
# BOM, direction marks, soft hyphen), every kind of space and line separator, combining marks...
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp", "Mn", "Me"})
# ...and the blank "letters" and symbols (Hangul fillers, the blank Braille pattern).
INVISIBLE_CHARACTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")

MESSAGE_COLUMNS = [
    "id", "asked_at", "user", "conversation_id", "question", "answer", "answered", "extractive",
    "backend", "cited_sections", "versions", "retrieval_ms", "first_token_ms", "total_ms", "error",
    "rating", "comment",
]  # fmt: skip
FEEDBACK_COLUMNS = [
    "id", "given_at", "user", "message_id", "rating", "comment", "question", "answer",
    "cited_sections", "handled_at", "handled_by",
]  # fmt: skip


def _invisible(character: str) -> bool:
    return character in INVISIBLE_CHARACTERS or unicodedata.category(character) in INVISIBLE_CATEGORIES


def neutralise(value) -> str:
    """The cell as text; prefixed with ' when a formula character starts it, invisible characters aside."""
    text = "" if value is None else str(value)
    for character in text:
        if character in FORMULA_STARTS:
            return "'" + text
        if not _invisible(character):
            break
    return text


class _Echo:
    """A file-like object whose write returns the line, for csv.writer inside a generator."""

    def write(self, value: str) -> str:
        return value


def csv_lines(header: list[str], rows: Iterable[list]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff"  # so Excel reads UTF-8
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([neutralise(value) for value in row])


def _sections(citations: list[dict]) -> str:
    return "; ".join(
        f"[{c.get('n')}] {c.get('toolkit')} {c.get('version_tag')} — "
        + " > ".join(c.get("heading_path") or [])
        for c in citations
    )


def message_rows(filters: Filters) -> Iterator[list]:
    messages = filters.messages().select_related("user", "feedback").order_by("created_at", "pk")
    for m in messages.iterator(chunk_size=2000):
        feedback = getattr(m, "feedback", None)
        yield [
            m.pk, m.created_at.isoformat(), m.user.username, m.conversation_id, m.query, m.answer,
            m.answered, m.extractive, m.backend, _sections(m.citations), " ".join(map(str, m.document_ids)),
            m.retrieval_ms, m.first_token_ms, m.total_ms, m.error,
            feedback.get_rating_display() if feedback else "", feedback.comment if feedback else "",
        ]  # fmt: skip


def feedback_rows(filters: Filters) -> Iterator[list]:
    ids = filters.messages().values("pk")
    found = Feedback.objects.filter(message__in=ids).select_related("user", "message", "handled_by")
    for f in found.order_by("created_at", "pk").iterator(chunk_size=2000):
        yield [
            f.pk, f.created_at.isoformat(), f.user.username, f.message_id, f.get_rating_display(), f.comment,
            f.message.query, f.message.answer, _sections(f.message.citations),
            f.handled_at.isoformat() if f.handled_at else "", f.handled_by.username if f.handled_by else "",
        ]  # fmt: skip
