"""A chunk's text as readable HTML: paragraphs, bullet and numbered lists, and tables.

Chunk text is plain text in the shapes toolkit/docx_parser.py and toolkit/chunking.py write:
blocks separated by a blank line; a paragraph on one line; list items (each a block of its own)
as "- text", "1. text" or "a. text", indented two spaces per level; a table as "| a | b |" rows,
the header rows first and then a "| --- | --- |" separator, with a literal "|" inside a cell
written "\\|". Everything is escaped: the text comes from uploaded documents.
"""

import re

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

LIST_ITEM = re.compile(r"^(?P<indent> *)(?P<marker>[-*•]|\d{1,4}[.)]|[a-zA-Z][.)]) +(?P<text>\S.*)$")
TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
CELL_SEPARATOR = re.compile(r"(?<!\\)\|")
SEPARATOR_CELL = re.compile(r"^:?-{3,}:?$")


def text_to_html(text: str) -> SafeString:
    """`text` (a chunk's text) as HTML, every piece of the text escaped."""
    html: list[str] = []
    paragraph: list[str] = []
    items: list[re.Match] = []
    rows: list[str] = []

    def flush() -> None:
        if paragraph:
            html.append("<p>" + "<br>".join(escape(line.strip()) for line in paragraph) + "</p>")
        if items:
            html.append(_list_html(items))
        if rows:
            html.append(_table_html(rows))
        paragraph.clear()
        items.clear()
        rows.clear()

    for line in (text or "").replace("\r\n", "\n").split("\n"):
        item = LIST_ITEM.match(line)
        # A line joins the block before it only when it has the same shape; otherwise it starts one.
        # A blank line ends a paragraph or a table, not a list: chunking puts one between items.
        if not line.strip():
            if not items:
                flush()
        elif TABLE_ROW.match(line):
            if not rows:
                flush()
            rows.append(line)
        elif item:
            if not items:
                flush()
            items.append(item)
        else:
            if not paragraph:
                flush()
            paragraph.append(line)
    flush()
    return mark_safe("\n".join(html))  # noqa: S308 - every piece of text is escaped above


def _list_html(items: list[re.Match]) -> str:
    """Nested lists from the items' indentation (two spaces a level, as docx_parser writes it)."""
    return _lists([(len(m["indent"]) // 2, m["marker"], m["text"]) for m in items])


def _lists(entries: list[tuple[int, str, str]]) -> str:
    """Items at the shallowest depth, each with the deeper items after it as its nested list; a new
    list starts where bullets turn into numbers or back."""
    level = min(depth for depth, _, _ in entries)
    html, current = [], None
    i = 0
    while i < len(entries):
        _, marker, text = entries[i]
        end = i + 1
        while end < len(entries) and entries[end][0] > level:
            end += 1
        kind = _list_kind(marker)
        if kind != current:
            if current:
                html.append(f"</{current[0]}>")
            html.append(_list_open(kind, marker))
            current = kind
        nested = _lists(entries[i + 1 : end]) if end > i + 1 else ""
        html.append(f"<li>{escape(text)}{nested}</li>")
        i = end
    html.append(f"</{current[0]}>")
    return "".join(html)


def _list_kind(marker: str) -> tuple[str, str]:
    """("ul", "") for bullets; ("ol", type) for numbers ("1") and letters ("a" or "A")."""
    if marker in ("-", "*", "•"):
        return ("ul", "")
    if marker[0].isdigit():
        return ("ol", "1")
    return ("ol", "A" if marker[0].isupper() else "a")


def _list_open(kind: tuple[str, str], marker: str) -> str:
    tag, numbering = kind
    if tag == "ul":
        return "<ul>"
    # A list cut by chunking goes on from where its chunk starts ("4." starts at 4).
    value = int(marker[:-1]) if numbering == "1" else ord(marker[0].lower()) - ord("a") + 1
    attributes = (f' type="{numbering}"' if numbering != "1" else "") + (
        f' start="{value}"' if value != 1 else ""
    )
    return f"<ol{attributes}>"


def _cells(row: str) -> list[str]:
    inner = row.strip()[1:-1]
    return [cell.strip().replace("\\|", "|") for cell in CELL_SEPARATOR.split(inner)]


def _table_html(lines: list[str]) -> str:
    """A table: the rows above the "| --- |" separator are its header (the first row without one)."""
    rows = [_cells(line) for line in lines]
    separators = [i for i, row in enumerate(rows) if all(SEPARATOR_CELL.match(cell) for cell in row)]
    header_rows = separators[0] if separators else 1
    header = rows[:header_rows]
    body = [row for i, row in enumerate(rows) if i >= header_rows and i not in separators]
    if not header and not body:
        return ""  # separator lines only: nothing to show
    width = max(len(row) for row in header + body)

    def row_html(row: list[str], cell: str) -> str:
        padded = row + [""] * (width - len(row))
        return "<tr>" + "".join(f"<{cell}>{escape(text)}</{cell}>" for text in padded) + "</tr>"

    parts = ['<div class="table-scroll" role="region" aria-label="Table" tabindex="0"><table>']
    if header:
        parts.append("<thead>" + "".join(row_html(row, "th") for row in header) + "</thead>")
    if body:
        parts.append("<tbody>" + "".join(row_html(row, "td") for row in body) + "</tbody>")
    parts.append("</table></div>")
    return "".join(parts)
