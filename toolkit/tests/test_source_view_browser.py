"""The source view in a real browser (Chromium via Playwright against a live server): a cited
section opens scrolled to its highlighted passage on a phone and on a desktop, with tables as
tables that scroll sideways inside their box, not the page."""

import pytest

from rag.models import Message
from rag.rendering import source_url
from toolkitrag.testing.browser import PHONE, log_in, needs_chromium
from toolkitrag.testing.toolkits import ingest_demo_toolkit, ingest_toolkit

pytestmark = [pytest.mark.django_db(transaction=True), needs_chromium]

# The passage's box lies wholly inside the viewport (it fits in it in all these tests).
PASSAGE_IN_VIEW = """() => {
  const box = document.getElementById("passage").getBoundingClientRect();
  return box.top >= 0 && box.bottom <= window.innerHeight && box.height > 0;
}"""
PAGE_SCROLLS_SIDEWAYS = "() => document.documentElement.scrollWidth > document.documentElement.clientWidth"

# Columns enough to be wider than a phone: the table scrolls in its own box.
WIDE_TABLE = [
    ["Task", "Owner", "Deputy", "When", "Where", "Equipment", "Budget", "Reported to"],
    ["Open the rest centre", "Coordinator", "Deputy coordinator", "On a red warning",
     "Village hall", "Keys, heaters, blankets", "£0", "Local authority duty officer"],
    ["Start the phone tree", "Communications lead", "Any committee member", "On activation",
     "From home", "Landline, printed list", "£0", "Coordinator"],
]  # fmt: skip
BACKGROUND = (
    "Our village lies in a river valley where the water rises quickly after heavy rain on the hills. "
    "The group formed after the floods of past winters, when neighbours found that nobody knew who "
    "needed help first or where the keys to the hall were kept. "
)


def long_toolkit() -> list[tuple]:
    """A section with a wide table after long sections: without its fragment, the passage is far
    below the top of the page on a desktop as on a phone."""
    return [
        ("h1", "1 Background"),
        *[("p", f"{BACKGROUND} Paragraph {n} of the background.") for n in range(8)],
        ("h1", "2 Who does what"),
        ("p", "Each task has an owner and a deputy."),
        ("table", WIDE_TABLE),
        ("h1", "3 Review"),
        ("p", "Review the table every year at the annual meeting."),
    ]


def assert_opened_at_the_passage(page) -> None:
    page.wait_for_function(PASSAGE_IN_VIEW)
    box = page.locator("#passage").bounding_box()  # relative to the viewport
    viewport = page.viewport_size
    assert box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"]
    assert page.evaluate("window.scrollY") > 0  # the page had to scroll to get there


def test_on_a_phone_a_cited_table_opens_as_a_table_at_the_highlighted_passage(phone_page, owner):
    page = phone_page
    ingest_demo_toolkit()
    log_in(page, owner)
    page.goto("/toolkit")
    page.fill("#question", "Who should lead our group in an emergency?")
    page.locator("#ask-button").tap()
    answers = page.locator("#messages .exchange[data-message-id]")
    answers.nth(0).locator("a.cite").first.wait_for()
    assert "3.1 Roles and responsibilities" in answers.nth(0).locator(".citations").text_content()

    page.fill("#question", "And who takes over if they are away?")
    page.locator("#ask-button").tap()
    follow_up = answers.nth(1)
    follow_up.locator("a.cite").first.wait_for()
    assert "Deputy coordinator" in follow_up.locator(".answer-text").text_content()
    assert Message.objects.values("conversation").distinct().count() == 1
    assert list(Message.objects.order_by("pk").values_list("answered", flat=True)) == [True, True]

    cite = follow_up.locator("a.cite").first
    assert cite.get_attribute("href").endswith("#passage")
    with page.expect_navigation():
        cite.tap()
    assert page.url.endswith("#passage")
    assert page.locator("#passage h1").text_content() == "3.1 Roles and responsibilities"
    table = page.locator("#passage table")
    assert table.is_visible()
    assert table.locator("th").all_text_contents() == ["Role", "Responsibility", "Suggested person"]
    assert table.locator("tbody tr").count() == 5
    text = page.locator("body").inner_text()
    assert "| --- |" not in text and "| Coordinator |" not in text
    assert_opened_at_the_passage(page)
    assert not page.evaluate(PAGE_SCROLLS_SIDEWAYS)
    assert page.console_errors == []


def test_a_wide_table_scrolls_in_its_box_and_links_without_the_fragment_still_open_at_it(phone_page, owner):
    document = ingest_toolkit(long_toolkit())
    chunk = document.chunks.get(heading="2 Who does what")
    page = phone_page
    log_in(page, owner)

    page.goto(source_url(chunk.pk))
    assert_opened_at_the_passage(page)
    scroller = page.locator("#passage .table-scroll")
    assert scroller.evaluate("box => box.scrollWidth > box.clientWidth")  # wider than the phone...
    assert not page.evaluate(PAGE_SCROLLS_SIDEWAYS)  # ...yet the page does not scroll sideways
    scroller.evaluate("box => { box.scrollLeft = box.scrollWidth; }")
    page.get_by_role("cell", name="Local authority duty officer").wait_for()
    assert page.get_by_role("cell", name="Local authority duty officer").is_visible()

    # A link without the fragment (the chat's list of sources, a plan's citation) opens there too.
    page.goto(f"/toolkit/source/{chunk.pk}")
    page.wait_for_url("**#passage")
    assert_opened_at_the_passage(page)
    assert page.console_errors == []


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_on_a_desktop_a_source_link_opens_at_the_highlighted_passage(open_page, owner, javascript):
    document = ingest_toolkit(long_toolkit())
    chunk = document.chunks.get(heading="2 Who does what")
    page = open_page(viewport={"width": 1200, "height": 900}, java_script_enabled=javascript)
    log_in(page, owner)

    page.goto(f"/toolkit/source/{chunk.pk}#top-of-page")  # a fragment that names nothing: no scroll
    assert page.evaluate("window.scrollY") == 0
    assert page.locator("#passage").bounding_box()["y"] > 900  # below the fold without its fragment

    page.goto(source_url(chunk.pk))
    assert_opened_at_the_passage(page)
    assert page.locator("#passage table th").first.text_content() == "Task"
    assert not page.evaluate(PAGE_SCROLLS_SIDEWAYS)


def test_on_a_phone_without_javascript_a_source_link_opens_at_the_passage(open_page, owner):
    document = ingest_toolkit(long_toolkit())
    chunk = document.chunks.get(heading="2 Who does what")
    page = open_page(**PHONE, java_script_enabled=False)
    log_in(page, owner)
    page.goto(source_url(chunk.pk))
    assert_opened_at_the_passage(page)
    assert not page.evaluate(PAGE_SCROLLS_SIDEWAYS)
