"""The toolkit's plain-text format, parsed into blocks and shown as HTML.

Chunk texts (toolkit/docx_parser.py, toolkit/chunking.py) and answers (rag) share this format, and
plans copy answers, so the source view, the chat and the plan page all read it here:

- blocks are separated by a blank line; a single newline inside a paragraph becomes <br>;
- "- ", "* " or "• " starts a bullet item, "1. " or "1) " a numbered one, "a. " a lettered one;
  two spaces of indentation per level nest an item under the one above it; items separated by
  blank lines (as chunking writes them) or directly following a paragraph line form one list; an
  indented line that is not an item goes on with the item above it; an <ol> keeps its first
  number as `start`, so a list cut by chunking goes on counting;
- consecutive lines starting with "|" are a table: the rows above its first "| --- |" separator
  are its header (none without a separator: a quoted row must not become a header), separators
  are never shown, and "\\|" is a literal pipe inside a cell;
- a short paragraph of one line ending with ":" ("4.1 Activation triggers:"), or a Markdown
  heading ("## Budget"), is a label.

Every piece of text goes through `inline`, which escapes it (the text comes from uploaded documents
and from users) and may add markup of its own: the chat links [n] to the cited sections.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

LIST_ITEM = re.compile(r"(?P<indent>\s*)(?P<marker>[-*•]|\d{1,4}[.)]|[a-zA-Z][.)])\s+(?P<text>\S.*)")
HEADING = re.compile(r"#{1,6}\s+(\S.*)")
CELL_SEPARATOR = re.compile(r"(?<!\\)\|")
# Three dashes at least: a row of "-" cells ("nothing here") stays a row.
SEPARATOR_CELL = re.compile(r":?-{3,}:?")
LABEL_MAX_CHARS = 80
TABLE_BOX = '<div class="table-scroll" role="region" aria-label="Table" tabindex="0">'


@dataclass
class ListItem:
    lines: list[str]
    children: list["Block"] = field(default_factory=list)  # the lists nested under this item


@dataclass
class Block:
    kind: str  # paragraph | label | ul | ol | table
    lines: list[str] = field(default_factory=list)  # paragraph, label
    items: list[ListItem] = field(default_factory=list)  # ul, ol
    numbering: str = ""  # ol: "1", "a" or "A"
    start: int = 1  # ol: the first item's number
    rows: list[list[str]] = field(default_factory=list)  # table, without its separator rows
    header_rows: int | None = None  # table: the rows above its first separator, if it has one


@dataclass
class _Entry:
    """A list item as written, before nesting: a run of them becomes one or more list blocks."""

    depth: int
    marker: str
    lines: list[str]


def parse(text: str) -> list[Block]:
    """The text's blocks, in order; lists nested by indentation."""
    parsed: list[Block | list[_Entry]] = []
    current: Block | list[_Entry] | None = None  # what the next line may continue
    after_blank = False
    for raw in (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.strip()
        if not line:
            if not isinstance(current, list):  # a blank line ends anything but a list
                current = None
            after_blank = True
            continue
        item = LIST_ITEM.fullmatch(raw.rstrip())
        if line.startswith("|"):
            if not isinstance(current, Block) or current.kind != "table":
                current = Block("table")
                parsed.append(current)
            cells = table_cells(line)
            if not is_separator(cells):
                current.rows.append(cells)
            elif current.header_rows is None:
                current.header_rows = len(current.rows)
        elif item:
            if not isinstance(current, list):
                current = []
                parsed.append(current)
            current.append(_Entry(len(item["indent"]) // 2, item["marker"], [item["text"]]))
        elif isinstance(current, list) and raw[:1].isspace() and not after_blank:
            current[-1].lines.append(line)
        elif heading := HEADING.fullmatch(line):
            parsed.append(Block("label", lines=[heading.group(1)]))
            current = None
        elif isinstance(current, Block) and current.kind == "paragraph":
            current.lines.append(line)
        else:
            current = Block("paragraph", lines=[line])
            parsed.append(current)
        after_blank = False

    blocks: list[Block] = []
    for part in parsed:
        if isinstance(part, list):
            blocks += _nest(part)
        elif part.kind == "paragraph" and len(part.lines) == 1 and is_label(part.lines[0]):
            blocks.append(Block("label", lines=part.lines))
        elif part.kind != "table" or part.rows:  # separator lines alone are nothing to show
            blocks.append(part)
    return blocks


def is_label(line: str) -> bool:
    return line.endswith(":") and len(line) <= LABEL_MAX_CHARS


def table_cells(line: str) -> list[str]:
    """The cells of "| a | b |": split on unescaped pipes, "\\|" kept as a literal pipe."""
    inner = line.strip()[1:]
    if inner.endswith("|") and not inner.endswith("\\|"):
        inner = inner[:-1]
    return [cell.strip().replace("\\|", "|") for cell in CELL_SEPARATOR.split(inner)]


def is_separator(cells: list[str]) -> bool:
    return all(SEPARATOR_CELL.fullmatch(cell.replace(" ", "")) for cell in cells)


def snippet(text: str, limit: int) -> str:
    """`text` as a one-line snippet of at most `limit` characters, cut at a word."""
    flat = plain_text(text)
    return flat if len(flat) <= limit else flat[: limit - 1].rsplit(" ", 1)[0] + "…"


def plain_text(text: str) -> str:
    """`text` on one line for a snippet, where "|" markup would show as it is: a table's rows as
    their cells ("Role · Duty; Chair · Leads"), without separator rows."""
    pieces: list[str] = []
    rows: list[str] = []
    for line in (text or "").splitlines():
        if line.strip().startswith("|"):
            cells = table_cells(line)
            if not is_separator(cells):
                rows.append(" · ".join(cell for cell in cells if cell))
            continue
        if rows:
            pieces.append("; ".join(rows))
            rows = []
        pieces.append(line)
    pieces.append("; ".join(rows))
    return " ".join(" ".join(pieces).split())


def _nest(entries: list[_Entry]) -> list[Block]:
    """Items at the shallowest depth, each with the deeper items after it as its nested lists; a new
    list starts where bullets turn into numbers or letters, or back."""
    level = min(entry.depth for entry in entries)
    lists: list[Block] = []
    i = 0
    while i < len(entries):
        end = i + 1
        while end < len(entries) and entries[end].depth > level:
            end += 1
        kind, numbering, start = _list_kind(entries[i].marker)
        if not lists or (lists[-1].kind, lists[-1].numbering) != (kind, numbering):
            lists.append(Block(kind, numbering=numbering, start=start))
        children = _nest(entries[i + 1 : end]) if end > i + 1 else []
        lists[-1].items.append(ListItem(entries[i].lines, children))
        i = end
    return lists


def _list_kind(marker: str) -> tuple[str, str, int]:
    """("ul", "", 1) for a bullet; ("ol", numbering, number) for "4." ("1", 4) or "c)" ("a", 3)."""
    if marker in ("-", "*", "•"):
        return ("ul", "", 1)
    if marker[0].isdigit():
        return ("ol", "1", int(marker[:-1]))
    return ("ol", "A" if marker[0].isupper() else "a", ord(marker[0].lower()) - ord("a") + 1)


def text_to_html(text: str, inline: Callable[[str], str] = escape) -> SafeString:
    """`text` as HTML; `inline` escapes each piece of text (and may add links of its own)."""
    html = []
    for block in parse(text):
        if block.kind == "paragraph":
            html.append(f"<p>{_lines(block.lines, inline)}</p>")
        elif block.kind == "label":
            html.append(f'<p class="section-label">{_lines(block.lines, inline)}</p>')
        elif block.kind == "table":
            html.append(_table_html(block, inline))
        else:
            html.append(_list_html(block, inline))
    return mark_safe("\n".join(html))  # noqa: S308 - every piece of text went through `inline`


def _lines(lines: list[str], inline: Callable[[str], str]) -> str:
    return "<br>".join(inline(line) for line in lines)


def _list_html(block: Block, inline: Callable[[str], str]) -> str:
    attributes = f' type="{block.numbering}"' if block.numbering in ("a", "A") else ""
    if block.start != 1:
        attributes += f' start="{block.start}"'
    items = []
    for item in block.items:
        nested = "".join(_list_html(child, inline) for child in item.children)
        items.append(f"<li>{_lines(item.lines, inline)}{nested}</li>")
    return f"<{block.kind}{attributes}>{''.join(items)}</{block.kind}>"


def _table_html(block: Block, inline: Callable[[str], str]) -> str:
    """A table in a box that scrolls sideways: a wide table never widens the page on a phone."""
    header = block.rows[: block.header_rows or 0]
    body = block.rows[block.header_rows or 0 :]
    width = max(len(row) for row in block.rows)

    def row_html(row: list[str], cell: str) -> str:
        padded = row + [""] * (width - len(row))
        return "<tr>" + "".join(f"<{cell}>{inline(text)}</{cell}>" for text in padded) + "</tr>"

    parts = [TABLE_BOX, "<table>"]
    if header:
        parts.append("<thead>" + "".join(row_html(row, "th") for row in header) + "</thead>")
    if body:
        parts.append("<tbody>" + "".join(row_html(row, "td") for row in body) + "</tbody>")
    parts.append("</table></div>")
    return "".join(parts)
