"""Turn a .docx into an ordered list of blocks: headings, paragraphs, list items, tables, notes.

python-docx opens the package (styles, numbering, footnotes, core properties); the body is
walked here in document order, because python-docx's own paragraph text skips tracked
insertions, content controls and text boxes, and its table API trips over real-world tables.
What Word would not show is left out: deleted text, field codes, the fallback copy of
drawings, page breaks, empty paragraphs.
"""

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import docx
from docx.opc.exceptions import PackageNotFoundError
from docx.oxml.ns import qn
from lxml import etree

from toolkit.docx_validation import DAMAGED, DocxRejected

W_P, W_TBL, W_SDT, W_SDT_CONTENT = qn("w:p"), qn("w:tbl"), qn("w:sdt"), qn("w:sdtContent")
W_TR, W_TC, W_T, W_TAB, W_BR, W_CR = qn("w:tr"), qn("w:tc"), qn("w:t"), qn("w:tab"), qn("w:br"), qn("w:cr")
W_NO_BREAK_HYPHEN, W_SOFT_HYPHEN = qn("w:noBreakHyphen"), qn("w:softHyphen")
W_FOOTNOTE_REF, W_ENDNOTE_REF = qn("w:footnoteReference"), qn("w:endnoteReference")
W_TXBX_CONTENT = qn("w:txbxContent")
MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
# Subtrees whose text Word does not show in the flow of the paragraph.
SKIPPED = {
    qn("w:del"),
    qn("w:moveFrom"),
    qn("w:pPr"),
    qn("w:rPr"),
    qn("w:instrText"),
    qn("w:delText"),
    W_TXBX_CONTENT,  # text boxes become blocks of their own, after their anchor paragraph
    MC_FALLBACK,  # the same drawing again, for old readers
}
HEADING_NAME = re.compile(r"^heading\s*([1-9])$", re.IGNORECASE)
WHITESPACE = re.compile(r"\s+")


@dataclass
class Block:
    kind: str  # heading | paragraph | list_item | table | note
    text: str
    index: int  # position among the document's blocks, for citing and highlighting
    level: int = 0  # heading level (1-9; Title is 0) or list depth
    rows: list[list[str]] = field(default_factory=list)  # table cells, header row first
    header_rows: int = 0


@dataclass
class ParsedDocument:
    title: str
    blocks: list[Block]


@dataclass
class _Style:
    name: str
    based_on: str | None
    outline_level: int | None
    num_id: str | None
    num_level: int


def clean(text: str) -> str:
    return WHITESPACE.sub(" ", text.replace("\u00ad", "")).strip()


class _Parser:
    def __init__(self, document):
        self.document = document
        self.blocks: list[Block] = []
        self.styles = self._load_styles()
        self.default_style = next(
            (
                style.get(qn("w:styleId"))
                for style in self.document.styles.element.iterchildren(qn("w:style"))
                if style.get(qn("w:type")) == "paragraph" and style.get(qn("w:default")) in ("1", "true")
            ),
            None,
        )
        self.number_formats = self._load_numbering()
        self.list_counters: dict[tuple[str, int], int] = {}
        self.notes = {"footnotes": self._load_notes("footnotes"), "endnotes": self._load_notes("endnotes")}
        self.note_numbers: dict[tuple[str, str], int] = {}

    # --- package parts ----------------------------------------------------------------
    def _load_styles(self) -> dict[str, _Style]:
        styles = {}
        for style in self.document.styles.element.iterchildren(qn("w:style")):
            style_id = style.get(qn("w:styleId"))
            if not style_id:
                continue
            name = style.find(qn("w:name"))
            based_on = style.find(qn("w:basedOn"))
            outline = style.find(f"{qn('w:pPr')}/{qn('w:outlineLvl')}")
            num_pr = style.find(f"{qn('w:pPr')}/{qn('w:numPr')}")
            num_id = num_pr.find(qn("w:numId")) if num_pr is not None else None
            ilvl = num_pr.find(qn("w:ilvl")) if num_pr is not None else None
            styles[style_id] = _Style(
                name=(name.get(qn("w:val")) if name is not None else style_id) or style_id,
                based_on=based_on.get(qn("w:val")) if based_on is not None else None,
                outline_level=_int(outline.get(qn("w:val"))) if outline is not None else None,
                num_id=num_id.get(qn("w:val")) if num_id is not None else None,
                num_level=_int(ilvl.get(qn("w:val"))) or 0 if ilvl is not None else 0,
            )
        return styles

    def _load_numbering(self) -> dict[tuple[str, int], str]:
        try:
            numbering = self.document.part.numbering_part.element
        except (KeyError, NotImplementedError):
            return {}
        abstract_formats: dict[str, dict[int, str]] = {}
        for abstract in numbering.iterchildren(qn("w:abstractNum")):
            levels = {}
            for lvl in abstract.iterchildren(qn("w:lvl")):
                fmt = lvl.find(qn("w:numFmt"))
                levels[_int(lvl.get(qn("w:ilvl"))) or 0] = (
                    fmt.get(qn("w:val")) if fmt is not None else "decimal"
                )
            abstract_formats[abstract.get(qn("w:abstractNumId"))] = levels
        formats = {}
        for num in numbering.iterchildren(qn("w:num")):
            abstract_id = num.find(qn("w:abstractNumId"))
            if abstract_id is None:
                continue
            for level, fmt in abstract_formats.get(abstract_id.get(qn("w:val")), {}).items():
                formats[(num.get(qn("w:numId")), level)] = fmt
        return formats

    def _load_notes(self, kind: str) -> dict[str, etree._Element]:
        for rel in self.document.part.rels.values():
            if rel.reltype.endswith("/" + kind) and not rel.is_external:
                root = etree.fromstring(rel.target_part.blob, etree.XMLParser(resolve_entities=False))  # noqa: S320
                tag = qn("w:footnote") if kind == "footnotes" else qn("w:endnote")
                return {
                    note.get(qn("w:id")): note
                    for note in root.iterchildren(tag)
                    if note.get(qn("w:type")) in (None, "normal")
                }
        return {}

    # --- style lookups --------------------------------------------------------------------
    def _style_chain(self, style_id: str | None):
        seen = set()
        while style_id and style_id in self.styles and style_id not in seen:
            seen.add(style_id)
            yield self.styles[style_id]
            style_id = self.styles[style_id].based_on

    def _heading_level(self, paragraph, style_id: str | None) -> int | None:
        outline = paragraph.find(f"{qn('w:pPr')}/{qn('w:outlineLvl')}")
        if outline is not None:
            level = _int(outline.get(qn("w:val")))
            return level + 1 if level is not None and level < 9 else None
        for style in self._style_chain(style_id):
            if style.name.strip().lower() == "title":
                return 0
            match = HEADING_NAME.match(style.name.strip())
            if match:
                return int(match.group(1))
            if style.outline_level is not None:
                return style.outline_level + 1 if style.outline_level < 9 else None
        return None

    def _list_position(self, paragraph, style_id: str | None) -> tuple[str, int] | None:
        num_pr = paragraph.find(f"{qn('w:pPr')}/{qn('w:numPr')}")
        if num_pr is not None:
            num_id = num_pr.find(qn("w:numId"))
            ilvl = num_pr.find(qn("w:ilvl"))
            num = num_id.get(qn("w:val")) if num_id is not None else None
            if num in (None, "0"):
                return None  # numbering explicitly switched off
            return num, (_int(ilvl.get(qn("w:val"))) or 0) if ilvl is not None else 0
        for style in self._style_chain(style_id):
            if style.num_id and style.num_id != "0":
                return style.num_id, style.num_level
        return None

    def _list_marker(self, num_id: str, level: int) -> str:
        fmt = self.number_formats.get((num_id, level), "bullet")
        if fmt in ("bullet", "none"):
            return "-"
        # Counting restarts for deeper levels whenever a shallower item appears.
        for key in [key for key in self.list_counters if key[0] == num_id and key[1] > level]:
            del self.list_counters[key]
        count = self.list_counters.get((num_id, level), 0) + 1
        self.list_counters[(num_id, level)] = count
        if fmt in ("lowerLetter", "upperLetter"):
            letter = chr(ord("a") + (count - 1) % 26)
            return (letter.upper() if fmt == "upperLetter" else letter) + "."
        return f"{count}."

    # --- text -------------------------------------------------------------------------------
    def _inline_text(self, element, notes: list[tuple[str, str]]) -> str:
        parts: list[str] = []
        self._collect_text(element, parts, notes)
        return clean("".join(parts))

    def _collect_text(self, element, parts: list[str], notes: list[tuple[str, str]]) -> None:
        for child in element.iterchildren():
            tag = child.tag
            if not isinstance(tag, str) or tag in SKIPPED:
                continue
            if tag == W_T:
                parts.append(child.text or "")
            elif tag in (W_TAB, W_CR) or tag == W_BR:
                parts.append(" ")
            elif tag == W_NO_BREAK_HYPHEN:
                parts.append("-")
            elif tag in (W_FOOTNOTE_REF, W_ENDNOTE_REF):
                kind = "footnotes" if tag == W_FOOTNOTE_REF else "endnotes"
                note_id = child.get(qn("w:id"))
                if note_id in self.notes[kind]:
                    number = self.note_numbers.setdefault((kind, note_id), len(self.note_numbers) + 1)
                    parts.append(f"[^{number}]")
                    notes.append((kind, note_id))
            else:
                self._collect_text(child, parts, notes)

    # --- blocks -----------------------------------------------------------------------------
    def add(self, kind: str, text: str, **extra) -> None:
        self.blocks.append(Block(kind=kind, text=text, index=len(self.blocks), **extra))

    def walk(self, container) -> None:
        for child in container.iterchildren():
            if child.tag == W_P:
                self.paragraph(child)
            elif child.tag == W_TBL:
                self.table(child)
            elif child.tag == W_SDT:
                content = child.find(W_SDT_CONTENT)
                if content is not None:
                    self.walk(content)
            elif isinstance(child.tag, str) and child.tag.endswith("}customXml"):
                self.walk(child)

    def paragraph(self, element) -> None:
        style = element.find(f"{qn('w:pPr')}/{qn('w:pStyle')}")
        style_id = style.get(qn("w:val")) if style is not None else self.default_style
        notes: list[tuple[str, str]] = []
        text = self._inline_text(element, notes)
        if text:
            level = self._heading_level(element, style_id)
            position = None if level is not None else self._list_position(element, style_id)
            if level is not None:
                self.add("heading", text, level=level)
            elif position is not None:
                marker = self._list_marker(*position)
                self.add("list_item", f"{'  ' * position[1]}{marker} {text}", level=position[1])
            else:
                self.add("paragraph", text)
        self.text_boxes(element)
        self.note_blocks(notes)

    def text_boxes(self, element) -> None:
        for box in element.iter(W_TXBX_CONTENT):
            ancestors = {ancestor.tag for ancestor in box.iterancestors()}
            # Skip the fallback copy, and boxes inside boxes (the outer box's walk reaches them).
            if MC_FALLBACK not in ancestors and W_TXBX_CONTENT not in ancestors:
                self.walk(box)

    def note_blocks(self, notes: list[tuple[str, str]]) -> None:
        for kind, note_id in notes:
            note = self.notes[kind][note_id]
            inner: list[tuple[str, str]] = []
            text = " ".join(filter(None, (self._inline_text(p, inner) for p in note.iter(W_P))))
            if text:
                number = self.note_numbers[(kind, note_id)]
                self.add("note", f"[^{number}]: {text}")

    def table(self, element) -> None:
        notes: list[tuple[str, str]] = []
        rows = self.table_rows(element, notes)
        width = max((len(row) for row in rows), default=0)
        rows = [row + [""] * (width - len(row)) for row in rows if any(cell.strip() for cell in row)]
        if not rows:
            return
        header_rows = 1
        marked = [tr.find(f"{qn('w:trPr')}/{qn('w:tblHeader')}") is not None for tr in self._rows_of(element)]
        if marked and marked[0]:
            header_rows = max(1, sum(1 for _ in _leading_true(marked)))
        header_rows = min(header_rows, len(rows))
        self.add("table", render_table(rows, header_rows), rows=rows, header_rows=header_rows)
        self.note_blocks(notes)

    def _rows_of(self, table):
        for child in table.iterchildren():
            if child.tag == W_TR:
                yield child
            elif child.tag == W_SDT:
                content = child.find(W_SDT_CONTENT)
                if content is not None:
                    yield from (tr for tr in content.iterchildren(W_TR))

    def _cells_of(self, row):
        for child in row.iterchildren():
            if child.tag == W_TC:
                yield child
            elif child.tag == W_SDT:
                content = child.find(W_SDT_CONTENT)
                if content is not None:
                    yield from content.iterchildren(W_TC)

    def table_rows(self, table, notes: list[tuple[str, str]]) -> list[list[str]]:
        rows: list[list[str]] = []
        for tr in self._rows_of(table):
            row: list[str] = []
            before = tr.find(f"{qn('w:trPr')}/{qn('w:gridBefore')}")
            row.extend([""] * (_int(before.get(qn("w:val"))) or 0 if before is not None else 0))
            for tc in self._cells_of(tr):
                properties = tc.find(qn("w:tcPr"))
                span = properties.find(qn("w:gridSpan")) if properties is not None else None
                merge = properties.find(qn("w:vMerge")) if properties is not None else None
                column = len(row)
                if merge is not None and merge.get(qn("w:val"), "continue") == "continue" and rows:
                    above = rows[-1]
                    text = above[column] if column < len(above) else ""
                else:
                    text = self.cell_text(tc, notes)
                row.append(text)
                row.extend([""] * ((_int(span.get(qn("w:val"))) or 1) - 1 if span is not None else 0))
            rows.append(row)
        return rows

    def cell_text(self, cell, notes: list[tuple[str, str]]) -> str:
        pieces = []
        for child in cell.iterchildren():
            if child.tag == W_P:
                text = self._inline_text(child, notes)
                if text:
                    pieces.append(text)
            elif child.tag == W_TBL:
                nested = self.table_rows(child, notes)
                pieces.append("; ".join(" / ".join(c for c in row if c) for row in nested if any(row)))
            elif child.tag == W_SDT:
                content = child.find(W_SDT_CONTENT)
                if content is not None:
                    text = self.cell_text(content, notes)
                    if text:
                        pieces.append(text)
        return clean(" ".join(pieces))


def render_table(rows: list[list[str]], header_rows: int) -> str:
    """Markdown-style rows; the header repeats as the first line of every piece of a split table."""

    def line(row: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"

    header = rows[:header_rows]
    separator = "| " + " | ".join("---" for _ in rows[0]) + " |"
    return "\n".join([*(line(row) for row in header), separator, *(line(row) for row in rows[header_rows:])])


def _leading_true(values):
    for value in values:
        if not value:
            return
        yield value


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def parse_docx(source: Path | BinaryIO, fallback_title: str = "") -> ParsedDocument:
    """Parse a validated .docx (a path or an open binary file); raise DocxRejected if unreadable."""
    document, parser, title = _open_package(source)
    try:
        parser.walk(document.element.body)
    except (KeyError, *DAMAGED) as error:
        raise DocxRejected(f"The document is damaged and cannot be read ({error}).") from None
    if not parser.blocks:
        raise DocxRejected("The document has no text to index (it is empty or holds only images).")
    if not title:
        first_heading = next((b.text for b in parser.blocks if b.kind == "heading"), "")
        title = first_heading or fallback_title
    return ParsedDocument(title=title[:300], blocks=parser.blocks)


def _open_package(source: Path | BinaryIO) -> tuple:
    """python-docx's document, a parser that has read its styles, numbering and notes parts, and
    the core-properties title; DocxRejected when any of that cannot be read."""
    try:
        document = docx.Document(str(source) if isinstance(source, Path) else source)
        return document, _Parser(document), clean(document.core_properties.title or "")
    except KeyError as error:
        if "officeDocument" in str(error) and _is_strict(source):
            raise DocxRejected(
                "This document is saved as 'Strict Open XML', which cannot be read. "
                "Save it as a normal Word Document (.docx) and upload that."
            ) from None
        raise DocxRejected(f"The document is damaged (a part is missing: {error}).") from None
    except (PackageNotFoundError, AttributeError, TypeError, IndexError, *DAMAGED) as error:
        # AttributeError/TypeError/IndexError: python-docx meeting package parts of an unexpected
        # shape (a lost content type makes the styles part a generic Part, a relationships part
        # has another root). The walk of the body is our own code: there they stay crashes.
        raise DocxRejected(f"The document is damaged and cannot be read ({error}).") from None


def _is_strict(source: Path | BinaryIO) -> bool:
    if not isinstance(source, Path):
        source.seek(0)
    try:
        with zipfile.ZipFile(source) as archive:
            rels = archive.read("_rels/.rels")
    except (KeyError, *DAMAGED):
        return False
    return b"purl.oclc.org/ooxml" in rels
