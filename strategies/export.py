"""A plan as a Word document or Markdown: items grouped by type, then the toolkit sections they cite.

Citation numbers are made plan-wide here: each distinct cited section gets one number in the Sources
list, and the [n] markers in item texts are rewritten to match it. Item texts are in the toolkit's
text format (answers carried over from the chat): Markdown keeps it as it is, Word gets its lists
and tables as Word lists and tables (read by toolkit/text_html.py, as the plan page reads them).
"""

import io
import re
from dataclasses import dataclass, field

import docx
from django.utils.text import slugify
from docx.document import Document
from docx.table import _Cell

from strategies.citations import CitationState, citation_states
from strategies.models import ItemCitation, PlanItem, StrategyPlan
from toolkit.access import viewer_of
from toolkit.text_html import Block, parse

GROUPS = [
    (PlanItem.Kind.GOAL, "Goals"),
    (PlanItem.Kind.ACTION, "Actions"),
    (PlanItem.Kind.NOTE, "Notes"),
]
# Characters XML 1.0 forbids: python-docx refuses them, and they have no place in a document anyway.
XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
MARKERS = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
LIST_STYLES = {"ul": "List Bullet", "ol": "List Number"}
LIST_LEVELS = 3  # Word's default template has "List Bullet", "List Bullet 2" and "List Bullet 3"


def clean(text: str) -> str:
    return XML_INVALID.sub("", text or "")


@dataclass
class Source:
    number: int
    citation: ItemCitation
    state: CitationState

    @property
    def heading(self) -> str:
        return " › ".join(self.citation.heading_path) or "Start of document"


@dataclass
class ExportItem:
    item: PlanItem
    text: str  # with plan-wide citation numbers
    source_numbers: list[int] = field(default_factory=list)


@dataclass
class PlanExport:
    plan: StrategyPlan
    groups: list[tuple[str, list[ExportItem]]]
    sources: list[Source]


def prepare(plan: StrategyPlan) -> PlanExport:
    items = list(plan.items.prefetch_related("citations"))
    citations = [c for item in items for c in item.citations.all()]
    states = citation_states(citations, viewer_of(plan.owner))
    sources: dict[tuple, Source] = {}
    exported = []
    for item in items:
        numbers = {}
        for citation in item.citations.all():
            key = (
                citation.toolkit_name,
                citation.version_tag,
                tuple(citation.heading_path),
                citation.snippet,
            )
            if key not in sources:
                sources[key] = Source(len(sources) + 1, citation, states[citation.pk])
            numbers[citation.n] = sources[key].number

        def renumber(match: re.Match, numbers: dict = numbers) -> str:
            found = [int(n) for n in re.split(r"\s*,\s*", match.group(1))]
            if not all(n in numbers for n in found):
                return match.group(0)
            return "".join(f"[{numbers[n]}]" for n in found)

        text = MARKERS.sub(renumber, clean(item.text))
        exported.append(ExportItem(item, text, sorted(set(numbers.values()))))
    groups = [(label, [e for e in exported if e.item.kind == kind]) for kind, label in GROUPS]
    return PlanExport(
        plan, [(label, entries) for label, entries in groups if entries], list(sources.values())
    )


def filename(plan: StrategyPlan, extension: str) -> str:
    """ASCII letters, digits and dashes only: safe in every browser, file system and header."""
    stem = slugify(plan.title)[:60].strip("-") or "strategy-plan"
    return f"{stem}-{plan.updated_at:%Y-%m-%d}.{extension}"


def _meta_line(plan: StrategyPlan) -> str:
    return f"Status: {plan.get_status_display()} · Updated {plan.updated_at:%d %B %Y}"


def _action_details(item: PlanItem) -> list[str]:
    details = [f"Owner: {clean(item.owner_name)}"] if item.owner_name else []
    if item.due_date:
        details.append(f"Due: {item.due_date:%Y-%m-%d}")
    return [*details, f"Status: {item.get_status_display()}"]


def _source_line(source: Source) -> str:
    c = source.citation
    return f"{clean(c.toolkit_name)}, version {clean(c.version_tag)} — {clean(source.heading)}"


def to_docx(plan: StrategyPlan) -> bytes:
    export = prepare(plan)
    document = docx.Document()
    document.core_properties.title = clean(plan.title)
    document.add_heading(clean(plan.title), level=0)
    document.add_paragraph(_meta_line(plan)).runs[0].italic = True
    for paragraph in clean(plan.summary).split("\n\n"):
        if paragraph.strip():
            document.add_paragraph(paragraph.strip())
    for label, entries in export.groups:
        document.add_heading(label, level=1)
        if label == "Actions":
            table = document.add_table(rows=1, cols=4)
            table.style = "Table Grid"
            for cell, title in zip(table.rows[0].cells, ("Action", "Owner", "Due", "Status"), strict=True):
                cell.text = title
                cell.paragraphs[0].runs[0].bold = True
            for entry in entries:
                item = entry.item
                row = table.add_row().cells
                write_text(row[0], entry.text)
                row[1].text = clean(item.owner_name)
                row[2].text = f"{item.due_date:%Y-%m-%d}" if item.due_date else ""
                row[3].text = item.get_status_display()
            continue
        for entry in entries:
            write_text(document, entry.text, numbered=label == "Goals")
    if export.sources:
        document.add_heading("Sources", level=1)
        for source in export.sources:
            paragraph = document.add_paragraph()
            paragraph.add_run(f"[{source.number}] ").bold = True
            paragraph.add_run(_source_line(source))
            if source.citation.snippet:
                paragraph.add_run(f"\n“{clean(source.citation.snippet)}”").italic = True
            if source.state.needs_attention:
                paragraph.add_run(f"\n{source.state.message}").bold = True
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def write_text(container: Document | _Cell, text: str, numbered: bool = False) -> None:
    """An item's text as Word paragraphs: labels in bold, lists as "List Bullet"/"List Number"
    paragraphs and tables as Word tables with a bold header. `numbered` (a goal) numbers its first
    paragraph in the plan's own "List Number" sequence."""
    blocks = parse(text)
    cell_paragraph = container.paragraphs[0] if isinstance(container, _Cell) else None
    if numbered and (not blocks or blocks[0].kind not in ("paragraph", "label")):
        container.add_paragraph(style="List Number")  # the goal's number, above its list or table
    for block in blocks:
        if block.kind in ("paragraph", "label"):
            paragraph = container.add_paragraph(style="List Number" if numbered else None)
            run = paragraph.add_run("\n".join(block.lines))
            if block.kind == "label":
                run.bold = True
        elif block.kind == "table":
            _add_table(container, block)
        else:
            _add_list(container, block, level=1)
        numbered = False
    if cell_paragraph is not None and len(container.paragraphs) > 1:
        # A new cell comes with an empty paragraph: drop it, the text starts the cell.
        cell_paragraph._p.getparent().remove(cell_paragraph._p)


def _add_list(container: Document | _Cell, block: Block, level: int) -> None:
    style = LIST_STYLES[block.kind] + (f" {level}" if level > 1 else "")
    numbering = _new_numbering(container, style, block.start) if block.kind == "ol" else None
    for item in block.items:
        paragraph = container.add_paragraph("\n".join(item.lines), style=style)
        if numbering is not None:
            paragraph._p.get_or_add_pPr().get_or_add_numPr().get_or_add_numId().val = numbering
        for child in item.children:
            _add_list(container, child, min(level + 1, LIST_LEVELS))


def _new_numbering(container: Document | _Cell, style: str, start: int) -> int:
    """A numbering of its own for one list, from `start`: without it Word counts every "List Number"
    paragraph of the document (the goals, each item's steps) as one list. python-docx has no public
    API for this, hence the XML."""
    part = container.part
    numbering = part.numbering_part.element
    style_num_id = part.styles[style].element.pPr.numPr.numId.val
    num = numbering.add_num(numbering.num_having_numId(style_num_id).abstractNumId.val)
    num.add_lvlOverride(ilvl=0).add_startOverride(start)
    return num.numId


def _add_table(container: Document | _Cell, block: Block) -> None:
    table = container.add_table(rows=len(block.rows), cols=max(len(row) for row in block.rows))
    table.style = "Table Grid"
    for r, row in enumerate(block.rows):
        for c, text in enumerate(row):
            cell = table.cell(r, c)
            cell.text = text
            if r < (block.header_rows or 0):
                for run in cell.paragraphs[0].runs:
                    run.bold = True


def _indent(text: str) -> str:
    return text.replace("\n", "\n   ")


def to_markdown(plan: StrategyPlan) -> str:
    export = prepare(plan)
    lines = [f"# {clean(plan.title)}", "", f"*{_meta_line(plan)}*", ""]
    if plan.summary.strip():
        lines += [clean(plan.summary).strip(), ""]
    for label, entries in export.groups:
        lines += [f"## {label}", ""]
        for number, entry in enumerate(entries, start=1):
            if label == "Goals":
                lines.append(f"{number}. {_indent(entry.text)}")
            elif label == "Actions":
                box = "x" if entry.item.status == PlanItem.Status.DONE else " "
                lines.append(f"- [{box}] {_indent(entry.text)}")
                lines.append(f"   *{' · '.join(_action_details(entry.item))}*")
            else:
                lines += [entry.text, ""]
        lines.append("")
    if export.sources:
        lines += ["## Sources", ""]
        for source in export.sources:
            lines.append(f"{source.number}. {_source_line(source)}")
            if source.citation.snippet:
                lines.append(f"   > {' '.join(clean(source.citation.snippet).split())}")
            if source.state.needs_attention:
                lines.append(f"   **{source.state.message}**")
        lines.append("")
    text = "\n".join(lines).rstrip() + "\n"
    # Markdown viewers render inline HTML: '<' and '&' from plans and toolkits become entities,
    # which they show as the characters typed. The syntax used here needs neither.
    return text.replace("&", "&amp;").replace("<", "&lt;")
