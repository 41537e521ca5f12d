"""Build small .docx files for tests with python-docx (Word's default template and styles), and find
the real toolkits of the shared evaluation corpus when it sits beside this clone."""

import io
import zipfile
from pathlib import Path

import docx
import pytest
from docx.enum.style import WD_STYLE_TYPE

from toolkitrag.testing import REPO_ROOT

SHARED_DOCX = (REPO_ROOT / ".." / "shared" / "eval" / "docx").resolve()


def shared_docx(name: str) -> Path:
    """A real toolkit from ../shared/eval/docx; the test is skipped (saying why) without it."""
    path = SHARED_DOCX / name
    if not path.exists():
        pytest.skip(
            f"needs ../shared/eval/docx/{name} (the shared evaluation corpus is not beside this clone)"
        )
    return path


def make_docx(spec: list[tuple], path: Path | None = None, title: str = "", table_style: str = "") -> bytes:
    """spec items: ("h1".."h9", text) | ("p", text) | ("bullet", text) | ("number", text)
    | ("table", [[header...], [row...], ...]) | ("outline", level, text) for a custom heading style."""
    document = docx.Document()
    if title:
        document.core_properties.title = title
    for item in spec:
        kind = item[0]
        if kind.startswith("h") and kind[1:].isdigit():
            document.add_heading(item[1], level=int(kind[1:]))
        elif kind == "p":
            document.add_paragraph(item[1])
        elif kind == "bullet":
            document.add_paragraph(item[1], style="List Bullet")
        elif kind == "number":
            document.add_paragraph(item[1], style="List Number")
        elif kind == "table":
            rows = item[1]
            table = document.add_table(rows=len(rows), cols=len(rows[0]))
            if table_style:
                table.style = table_style
            for r, row in enumerate(rows):
                for c, value in enumerate(row):
                    table.cell(r, c).text = value
        elif kind == "outline":
            name = f"Toolkit Heading {item[1]}"
            if name not in [s.name for s in document.styles]:
                style = document.styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
                style.base_style = document.styles["Normal"]
                ppr = style.element.get_or_add_pPr()
                outline = ppr.makeelement(
                    docx.oxml.ns.qn("w:outlineLvl"), {docx.oxml.ns.qn("w:val"): str(item[1] - 1)}
                )
                ppr.append(outline)
            document.add_paragraph(item[2], style=name)
        else:
            raise ValueError(kind)
    buffer = io.BytesIO()
    document.save(buffer)
    data = buffer.getvalue()
    if path is not None:
        path.write_bytes(data)
    return data


def rewrite_member(data: bytes, name: str, transform) -> bytes:
    """Return a copy of a .docx with one member's bytes transformed."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            target.writestr(info, transform(content) if info.filename == name else content)
    return out.getvalue()


DEFAULT_BUDGET = "The budget is reviewed every quarter by the finance lead, who reports to the trustees."


def toolkit_spec(budget_text: str = DEFAULT_BUDGET) -> list[tuple]:
    """A small toolkit with sections, a list and a table."""
    return [
        ("h1", "1 Getting started"),
        ("p", "This toolkit helps community groups plan local strategies and measure their results."),
        ("h2", "1.1 Who this is for"),
        ("p", "Volunteers, coordinators and trustees of small charities."),
        ("h1", "2 Planning"),
        ("p", "Planning starts with a shared picture of local needs and assets."),
        ("bullet", "Map the assets of the neighbourhood"),
        ("bullet", "Interview at least ten residents"),
        ("h2", "2.3 Budget"),
        ("p", budget_text),
        (
            "table",
            [
                ["Item", "Cost", "Owner"],
                ["Venue hire", "£200", "Coordinator"],
                ["Printing", "£50", "Volunteer"],
            ],
        ),
        ("h1", "3 Evaluation"),
        ("p", "Evaluate outcomes against the goals agreed in the planning stage, using resident surveys."),
    ]
