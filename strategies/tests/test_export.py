import io

import docx
import pytest

from strategies import export
from strategies.models import PlanItem
from toolkitrag.testing.toolkits import TOOLKIT, answered, ingest_toolkit

pytestmark = pytest.mark.django_db


@pytest.fixture
def cited_plan(client, owner, plan):
    """The plan with two chat answers added: each answer's [1] is a different toolkit section."""
    ingest_toolkit()
    client.force_login(owner)
    for question in ("How often is the budget reviewed?", "Who opens the rest centre in a flood?"):
        message = answered(owner, question)
        client.post(
            f"/strategies/add-answer/{message.pk}", {"plan": plan.pk, "kind": "note", "text": message.answer}
        )
    return plan


def paragraphs(document) -> list[str]:
    return [p.text for p in document.paragraphs]


def test_docx_export_has_title_summary_items_by_type_and_sources(client, owner, cited_plan):
    response = client.get(f"/strategies/{cited_plan.pk}/export.docx")
    assert response.status_code == 200
    assert (
        response["Content-Type"] == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    )
    assert response["Content-Disposition"].startswith('attachment; filename="flood-readiness-2027-')

    document = docx.Document(io.BytesIO(response.content))
    text = paragraphs(document)
    assert document.core_properties.title == "Flood readiness 2027"
    assert text[0] == "Flood readiness 2027" and document.paragraphs[0].style.name == "Title"
    assert text[1].startswith("Status: Draft · Updated ")
    assert "Be ready before winter." in text
    headings = [p.text for p in document.paragraphs if p.style.name == "Heading 1"]
    assert headings == ["Goals", "Actions", "Notes", "Sources"]
    assert "Every street has a flood warden" in text

    (table,) = document.tables
    rows = [[cell.text for cell in row.cells] for row in table.rows]
    assert rows == [["Action", "Owner", "Due", "Status"], ["Recruit wardens", "Sam", "2027-01-15", "To do"]]

    # Both answers said [1]; plan-wide they are [1] and [2], matching the Sources list.
    notes = [p for p in text if "[" in p and not p.startswith("[")]
    assert any("[1]" in p and "quarter" in p for p in notes)
    assert any("[2]" in p and "rest centre" in p for p in notes)
    sources = text[text.index("Sources") + 1 :]
    assert sources[0].startswith("[1] Community Toolkit, version v1 — 1 Planning › 1.1 Budget")
    assert sources[1].startswith("[2] Community Toolkit, version v1 — 2 Emergencies")
    assert "every quarter" in sources[0]


def test_markdown_export(client, owner, cited_plan):
    response = client.get(f"/strategies/{cited_plan.pk}/export.md")
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="flood-readiness-2027-')
    text = response.content.decode()
    assert text.startswith("# Flood readiness 2027\n\n*Status: Draft · Updated ")
    assert "## Goals\n\n1. Every street has a flood warden\n" in text
    assert "- [ ] Recruit wardens\n   *Owner: Sam · Due: 2027-01-15 · Status: To do*" in text
    assert "## Notes\n\nAsk the parish council about funding\n" in text
    assert (
        "## Sources\n\n1. Community Toolkit, version v1 — 1 Planning › 1.1 Budget\n"
        "   > The budget is reviewed" in text
    )
    assert "\n2. Community Toolkit, version v1 — 2 Emergencies\n" in text


def test_exports_flag_sources_changed_in_the_active_version(client, owner, cited_plan):
    changed = [
        (k, t.replace("every quarter by the treasurer", "every month by the board")) for k, t in TOOLKIT
    ]
    ingest_toolkit(changed, version="v2")
    text = client.get(f"/strategies/{cited_plan.pk}/export.md").content.decode()
    assert "1. Community Toolkit, version v1 — 1 Planning › 1.1 Budget" in text  # what the plan cited
    assert "**This section has changed in the active version v2.**" in text
    document = docx.Document(io.BytesIO(client.get(f"/strategies/{cited_plan.pk}/export.docx").content))
    assert any("has changed in the active version v2" in p for p in paragraphs(document))


def test_download_names_are_safe_whatever_the_title(owner, plan):
    for title, stem in [
        ('../../etc/passwd\r\nX-Evil: 1"', "etcpasswd-x-evil-1"),
        ("Plan für Überschwemmung", "plan-fur-uberschwemmung"),
        ("计划", "strategy-plan"),
        ("x" * 200, "x" * 60),
    ]:
        plan.title = title
        name = export.filename(plan, "docx")
        assert name == f"{stem}-{plan.updated_at:%Y-%m-%d}.docx"


def test_control_characters_and_markup_in_items_do_not_break_the_export(client, owner, plan):
    PlanItem.objects.create(
        plan=plan, position=9, kind="note", text="Bell\x07 and <w:t>tags</w:t> & \x0bmore"
    )
    client.force_login(owner)
    response = client.get(f"/strategies/{plan.pk}/export.docx")
    assert "Bell and <w:t>tags</w:t> & more" in paragraphs(docx.Document(io.BytesIO(response.content)))
    markdown = client.get(f"/strategies/{plan.pk}/export.md").content.decode()
    assert "Bell and &lt;w:t>tags&lt;/w:t> &amp; more" in markdown  # shown as typed, never as HTML


def test_exports_need_login(client, plan):
    response = client.get(f"/strategies/{plan.pk}/export.docx")
    assert response.status_code == 302 and "/auth/login" in response["Location"]


def test_unknown_export_format_is_404(client, owner, plan):
    client.force_login(owner)
    assert client.get(f"/strategies/{plan.pk}/export.pdf").status_code == 404


def test_empty_plan_exports_cleanly(client, owner):
    client.force_login(owner)
    client.post("/strategies/new", {"title": "Empty", "status": "draft"})
    plan = owner.strategy_plans.get()
    document = docx.Document(io.BytesIO(client.get(f"/strategies/{plan.pk}/export.docx").content))
    assert paragraphs(document)[0] == "Empty" and not document.tables
    assert client.get(f"/strategies/{plan.pk}/export.md").content.decode().startswith("# Empty\n")
