"""Plans in a real browser: from a streamed chat answer to an exported Word document."""

import re

import docx
import pytest

from strategies.models import StrategyPlan
from toolkitrag.testing.browser import log_in, needs_chromium
from toolkitrag.testing.toolkits import ingest_toolkit

pytestmark = [pytest.mark.django_db(transaction=True), needs_chromium, pytest.mark.system]


def test_add_a_chat_answer_to_a_new_plan_reorder_with_the_keyboard_and_export(
    page, owner, fake_openai, tmp_path
):
    ingest_toolkit()
    fake_openai.chat_reply = lambda messages: "The treasurer reviews the budget every quarter [1]."
    log_in(page, owner)
    page.goto("/toolkit")
    page.fill("#question", "How often is the budget reviewed?")
    page.keyboard.press("Enter")
    add = page.locator(".exchange .add-to-plan")
    add.wait_for()
    add.click()

    page.wait_for_url("**/strategies/add-answer/*")
    assert "1 Planning › 1.1 Budget" in page.locator(".citations").inner_text()
    page.select_option("#id_kind", "action")
    page.fill("#id_new_plan_title", "Budget discipline")
    page.get_by_role("button", name="Add to plan").click()

    page.wait_for_url(re.compile(r"/strategies/\d+#item-\d+$"))
    plan = StrategyPlan.objects.get(owner=owner)
    assert page.locator("h1").inner_text() == "Budget discipline"
    assert "The treasurer reviews the budget every quarter [1]." in page.locator(".plan-item").inner_text()
    assert (
        "Community Toolkit v1 — 1 Planning › 1.1 Budget" in page.locator(".plan-item .citations").inner_text()
    )

    # A second item, then move it to the top with the keyboard only.
    page.select_option("#id_kind", "goal")
    page.fill("#id_text", "Never overspend")
    page.click(".add-item button[type=submit]")
    page.wait_for_url(re.compile(r"#item-\d+$"))
    move_up = page.get_by_role("button", name="Move item 2 up")
    move_up.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"moved=\d+"))
    assert page.locator(".plan-item .item-text").all_inner_texts()[0] == "Never overspend"
    # The focus stays with the moved item, on its (now disabled) up button's neighbour.
    focused = page.evaluate("document.activeElement.getAttribute('aria-label')")
    assert focused == "Move item 1 down"

    with page.expect_download() as download_info:
        page.click("text=Export .docx")
    download = download_info.value
    assert download.suggested_filename.startswith(
        "budget-discipline-"
    ) and download.suggested_filename.endswith(".docx")
    path = tmp_path / "plan.docx"
    download.save_as(path)
    text = [p.text for p in docx.Document(path).paragraphs]
    assert text[0] == "Budget discipline" and "Never overspend" in text
    assert any(p.startswith("[1] Community Toolkit, version v1 — 1 Planning › 1.1 Budget") for p in text)
    (table,) = docx.Document(path).tables
    assert table.rows[1].cells[0].text == "The treasurer reviews the budget every quarter [1]."

    with page.expect_download() as download_info:
        page.click("text=Export Markdown")
    markdown = (download_info.value.path()).read_text()
    assert markdown.startswith("# Budget discipline") and "## Sources" in markdown
    assert plan.items.count() == 2
    assert page.console_errors == [] and page.dialogs == []
