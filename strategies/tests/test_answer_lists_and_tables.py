"""Answers carried into a plan keep their lists and tables: as HTML on the plan page, as Word lists
and tables in the .docx, as Markdown in the .md; never as raw "|" rows, and always escaped."""

import io
import re

import docx
import pytest

from strategies.models import PlanItem
from toolkitrag.testing.toolkits import answered, ingest_demo_toolkit

pytestmark = pytest.mark.django_db

ROLES = "Who should be the coordinator?"  # answered with the roles table
ACTIVATION = "What happens when the emergency plan is activated?"  # answered with numbered steps


@pytest.fixture
def answers_plan(client, owner, plan):
    """The plan with two extractive answers added as notes: one quotes a table, one a numbered list."""
    ingest_demo_toolkit()
    client.force_login(owner)
    for question in (ROLES, ACTIVATION):
        message = answered(owner, question)
        client.post(
            f"/strategies/add-answer/{message.pk}", {"plan": plan.pk, "kind": "note", "text": message.answer}
        )
    texts = list(plan.items.filter(kind="note").values_list("text", flat=True))
    assert any("| --- |" in text for text in texts)  # the answers really hold a table and a list
    assert any("\n1. Coordinator receives a warning or request [1]" in text for text in texts)
    return plan


def export_docx(client, plan) -> docx.document.Document:
    return docx.Document(io.BytesIO(client.get(f"/strategies/{plan.pk}/export.docx").content))


def source_number(document, heading: str) -> int:
    """The plan-wide number the Sources list gives the section `heading`."""
    texts = [p.text for p in document.paragraphs]
    for text in texts[texts.index("Sources") + 1 :]:
        if text.split("\n")[0].endswith(heading):
            return int(re.match(r"\[(\d+)\]", text).group(1))
    raise AssertionError(f"{heading} is not in the Sources")


def test_the_plan_page_shows_an_answers_table_and_list_as_html(client, answers_plan):
    page = client.get(f"/strategies/{answers_plan.pk}").content.decode()
    assert '<p class="section-label">3.1 Roles and responsibilities:</p>' in page
    assert "<thead><tr><th>Role</th><th>Responsibility</th><th>Suggested person</th></tr></thead>" in page
    assert (
        "<tr><td>Coordinator</td><td>Activates the plan and liaises with the emergency services</td>" in page
    )
    assert "<li>Coordinator receives a warning or request [1]</li>" in page
    assert "| --- |" not in page and "| Coordinator" not in page
    # [n] stays text in the item, as before; the item's Sources list below it links the sections.
    assert 'class="cite"' not in page and "#passage" in page


def test_the_docx_has_the_answers_table_as_a_word_table_and_its_steps_as_a_numbered_list(
    client, answers_plan
):
    document = export_docx(client, answers_plan)
    roles, activation = (
        source_number(document, "3.1 Roles and responsibilities"),
        source_number(document, "4.1 Activation triggers"),
    )
    assert roles != activation  # both answers said [1]; plan-wide they differ

    table = next(t for t in document.tables if t.cell(0, 0).text == "Role")
    rows = [[cell.text for cell in row.cells] for row in table.rows]
    assert rows[0] == ["Role", "Responsibility", "Suggested person"]
    assert rows[1] == [
        "Coordinator",
        "Activates the plan and liaises with the emergency services",
        f"Chair of the group [{roles}]",
    ]
    assert all(run.bold for cell in table.rows[0].cells for run in cell.paragraphs[0].runs)
    assert not any(run.bold for run in table.cell(1, 0).paragraphs[0].runs)

    steps = [p for p in document.paragraphs if p.style.name == "List Number" and "Coordinator" in p.text]
    assert [p.text for p in steps][:2] == [
        f"Coordinator receives a warning or request [{activation}]",
        f"Coordinator calls the deputy and the communications lead [{activation}]",
    ]
    # The steps count from 1 on their own, not on from the plan's goals (also "List Number").
    num_id = steps[0]._p.pPr.numPr.numId.val
    num = document.part.numbering_part.element.num_having_numId(num_id)
    assert num.xpath("./w:lvlOverride/w:startOverride/@w:val") == ["1"]
    label = next(p for p in document.paragraphs if p.text == "3.1 Roles and responsibilities:")
    assert label.runs[0].bold
    assert not any("|" in p.text for p in document.paragraphs)


def test_an_action_keeps_its_list_inside_its_cell(client, owner, plan):
    PlanItem.objects.create(plan=plan, position=9, kind="action", text="Prepare:\n- sandbags [1]\n- torches")
    client.force_login(owner)
    (table,) = export_docx(client, plan).tables
    cell = table.rows[-1].cells[0]
    assert [(p.text, p.style.name) for p in cell.paragraphs] == [
        ("Prepare:", "Normal"),
        ("sandbags [1]", "List Bullet"),
        ("torches", "List Bullet"),
    ]


def test_the_markdown_export_keeps_the_answers_table_and_list_as_markdown(client, answers_plan):
    text = client.get(f"/strategies/{answers_plan.pk}/export.md").content.decode()
    assert "| Role | Responsibility | Suggested person |\n| --- | --- | --- |\n| Coordinator |" in text
    assert re.search(r"\n1\. Coordinator receives a warning or request \[\d+\]\n2\. ", text)


def test_hostile_html_in_an_items_list_table_and_label_stays_escaped(client, owner, plan):
    evil = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    text = f"{evil}:\n\n- {evil}\n\n| {evil} |\n| --- |\n| {evil} [1] |\n\n{evil}"
    PlanItem.objects.create(plan=plan, position=9, kind="note", text=text)
    client.force_login(owner)
    page = client.get(f"/strategies/{plan.pk}").content.decode()
    assert "<script>alert" not in page and "<img" not in page
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=&quot;alert(2)&quot;&gt;"
    assert page.count(escaped) == 5  # label, item, header cell, cell, paragraph
