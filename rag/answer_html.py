"""An answer's plain text as HTML: paragraphs, bullet and numbered lists, tables, section labels.

The answer writers (extractive and the chat model) produce plain text in a small Markdown-like
format, and the JSON API returns it as is; only the chat page turns it into HTML, here:

- paragraphs are separated by a blank line; a single newline inside one becomes <br>;
- "- " (or "* ", "• ") starts a bullet item, "1. " (or "1) ") a numbered item; an <ol> keeps its
  first number as `start`, so a list split by a blank line goes on counting;
- consecutive lines starting with "|" are a table; when its second row is a separator
  ("| --- | --- |") the first row is the header; separator rows are never shown;
- a short one-line paragraph ending with ":" ("4.1 Activation triggers:"), or a Markdown heading
  ("## Budget"), is a section label.

Every piece of text is escaped, and [n] becomes a link only where a citation n exists (`inline`).
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe

from rag.answering import CITATION

BULLET = re.compile(r"[-*•]\s+(\S.*)")
NUMBERED = re.compile(r"(\d{1,3})[.)]\s+(\S.*)")
HEADING = re.compile(r"#{1,6}\s+(\S.*)")
CELL_SEPARATOR = re.compile(r"(?<!\\)\|")
SEPARATOR_CELL = re.compile(r":?-+:?")
LABEL_MAX_CHARS = 80


@dataclass
class Block:
    kind: str  # paragraph | label | ul | ol | table
    lines: list[str] = field(default_factory=list)  # paragraph/label: its lines
    items: list[list[str]] = field(default_factory=list)  # ul/ol: each item's lines
    rows: list[list[str]] = field(default_factory=list)  # table: each row's cells
    start: int = 1  # ol: the first item's number
    header: bool = False  # table: the first row is a header


def table_cells(line: str) -> list[str]:
    """The cells of "| a | b |": split on unescaped pipes, "\\|" kept as a literal pipe."""
    inner = line.strip()[1:]
    if inner.endswith("|") and not inner.endswith("\\|"):
        inner = inner[:-1]
    return [cell.strip().replace("\\|", "|") for cell in CELL_SEPARATOR.split(inner)]


def is_separator(cells: list[str]) -> bool:
    return all(SEPARATOR_CELL.fullmatch(cell.replace(" ", "")) for cell in cells)


def parse(text: str) -> list[Block]:
    """The answer's blocks, in order."""
    blocks: list[Block] = []
    current: Block | None = None  # the block the next line may continue
    for raw in (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.strip()
        if not line:
            current = None
            continue
        bullet, numbered = BULLET.fullmatch(line), NUMBERED.fullmatch(line)
        if line.startswith("|"):
            cells = table_cells(line)
            if current is None or current.kind != "table":
                current = Block("table")
                blocks.append(current)
            if is_separator(cells):
                current.header = current.header or len(current.rows) == 1
            else:
                current.rows.append(cells)
        elif bullet or numbered:
            kind = "ul" if bullet else "ol"
            if current is None or current.kind != kind:
                current = Block(kind, start=int(numbered.group(1)) if numbered else 1)
                blocks.append(current)
            current.items.append([bullet.group(1) if bullet else numbered.group(2)])
        elif current is not None and current.kind in ("ul", "ol") and raw[:1].isspace():
            current.items[-1].append(line)  # an indented line goes on with the item above it
        elif heading := HEADING.fullmatch(line):
            blocks.append(Block("label", lines=[heading.group(1)]))
            current = None
        elif current is not None and current.kind == "paragraph":
            current.lines.append(line)
        else:
            current = Block("paragraph", lines=[line])
            blocks.append(current)
    for block in blocks:
        if block.kind == "paragraph" and len(block.lines) == 1 and is_label(block.lines[0]):
            block.kind = "label"
    return [block for block in blocks if block.kind != "table" or block.rows]


def is_label(line: str) -> bool:
    return line.endswith(":") and len(line) <= LABEL_MAX_CHARS


def render(text: str, inline: Callable[[str], str]) -> SafeString:
    """The answer as HTML; `inline` escapes a line of text (and may link its citations)."""

    def lines(parts: list[str]) -> SafeString:
        return mark_safe("<br>".join(inline(part) for part in parts))  # noqa: S308 - inline escapes

    html = []
    for block in parse(text):
        if block.kind == "paragraph":
            html.append(format_html("<p>{}</p>", lines(block.lines)))
        elif block.kind == "label":
            html.append(format_html('<p class="answer-section-label">{}</p>', lines(block.lines)))
        elif block.kind in ("ul", "ol"):
            start = format_html(' start="{}"', block.start) if block.kind == "ol" and block.start != 1 else ""
            items = "".join(format_html("<li>{}</li>", lines(item)) for item in block.items)
            html.append(format_html("<{}{}>{}</{}>", block.kind, start, mark_safe(items), block.kind))  # noqa: S308
        else:
            html.append(table_html(block, inline))
    return mark_safe("\n".join(html))  # noqa: S308 - every piece above is escaped


def table_html(block: Block, inline: Callable[[str], str]) -> str:
    """A table in a scrolling box (wide tables scroll sideways on a phone, not the page)."""
    width = max(len(row) for row in block.rows)

    def row_html(cells: list[str], tag: str) -> str:
        cells = cells + [""] * (width - len(cells))
        scope = ' scope="col"' if tag == "th" else ""
        return "<tr>" + "".join(f"<{tag}{scope}>{inline(cell)}</{tag}>" for cell in cells) + "</tr>"

    head, body = (block.rows[:1], block.rows[1:]) if block.header else ([], block.rows)
    parts = ['<div class="answer-table"><table>']
    if head:
        parts.append("<thead>" + row_html(head[0], "th") + "</thead>")
    if body:
        parts.append("<tbody>" + "".join(row_html(row, "td") for row in body) + "</tbody>")
    parts.append("</table></div>")
    return "".join(parts)


def linked_citations(text: str, chunk_urls: dict[int, str]) -> SafeString:
    """`text` escaped, with each [n] that has a citation turned into a link to its source."""
    pieces, position = [], 0
    for match in CITATION.finditer(text):
        pieces.append(conditional_escape(text[position : match.start()]))
        n = int(match.group(1))
        if n in chunk_urls:
            pieces.append(format_html('<a class="cite" href="{}" data-n="{}">[{}]</a>', chunk_urls[n], n, n))
        else:
            pieces.append(conditional_escape(match.group(0)))
        position = match.end()
    pieces.append(conditional_escape(text[position:]))
    return mark_safe("".join(str(piece) for piece in pieces))  # noqa: S308 - every piece is escaped above
