"""A chunk's text as HTML: the shapes docx_parser and chunking write, each as its HTML element (the
chat's answers use the same renderer: rag/tests/test_answer_html.py)."""

from toolkit.chunking import chunk_blocks
from toolkit.docx_parser import Block, render_table
from toolkit.text_html import plain_text, text_to_html

TABLE_SCROLL = '<div class="table-scroll" role="region" aria-label="Table" tabindex="0">'


def test_blocks_separated_by_a_blank_line_are_paragraphs_and_lines_within_one_are_kept():
    assert text_to_html("First paragraph.\n\nSecond one\nwith a second line.") == (
        "<p>First paragraph.</p>\n<p>Second one<br>with a second line.</p>"
    )


def test_everything_from_the_document_is_escaped():
    html = text_to_html(
        "<script>alert(1)</script>\n\n- <b>bold</b>\n\n| <i>h</i> | x |\n| --- | --- |\n| <img src=x> | & |"
    )
    assert "<script>" not in html and "<b>" not in html and "<i>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<li>&lt;b&gt;bold&lt;/b&gt;</li>" in html
    assert "<th>&lt;i&gt;h&lt;/i&gt;</th>" in html and "<td>&lt;img src=x&gt;</td><td>&amp;</td>" in html


def test_a_table_has_its_header_row_and_no_separator_row():
    text = render_table([["Role", "Responsibility"], ["Coordinator", "Activates the plan"]], 1)
    assert text.splitlines()[1] == "| --- | --- |"  # what the parser writes
    assert text_to_html(text) == (
        f"{TABLE_SCROLL}<table>"
        "<thead><tr><th>Role</th><th>Responsibility</th></tr></thead>"
        "<tbody><tr><td>Coordinator</td><td>Activates the plan</td></tr></tbody>"
        "</table></div>"
    )


def test_a_table_keeps_its_several_header_rows_escaped_pipes_and_short_rows():
    text = render_table([["Plan", "2026"], ["Item", "Cost | note"], ["Venue", "£200"]], 2)
    assert "Cost \\| note" in text
    html = text_to_html(text + "\n| Printing |")
    assert (
        "<thead><tr><th>Plan</th><th>2026</th></tr><tr><th>Item</th><th>Cost | note</th></tr></thead>" in html
    )
    assert "<tr><td>Venue</td><td>£200</td></tr><tr><td>Printing</td><td></td></tr>" in html
    assert "---" not in html


def test_a_table_without_separator_has_no_header_row():
    # The parser always writes the separator (render_table); rows without one are quoted rows.
    html = text_to_html("| a | b |\n| 1 | 2 |")
    assert "<table><tbody><tr><td>a</td><td>b</td></tr><tr><td>1</td><td>2</td></tr></tbody>" in html


def test_bullets_and_numbers_become_lists_nested_by_indentation():
    html = text_to_html(
        "- Map the assets\n  - Streets\n  - Halls\n- Interview residents\n\nNext:\n1. Call\n2. Visit"
    )
    assert html == (
        "<ul><li>Map the assets<ul><li>Streets</li><li>Halls</li></ul></li>"
        "<li>Interview residents</li></ul>\n"
        '<p class="section-label">Next:</p>\n<ol><li>Call</li><li>Visit</li></ol>'
    )


def test_list_items_separated_by_blank_lines_as_chunking_writes_them_are_one_list():
    assert text_to_html("1. Call the deputy\n\n2. Start the phone tree\n\nThen wait.") == (
        "<ol><li>Call the deputy</li><li>Start the phone tree</li></ol>\n<p>Then wait.</p>"
    )


def test_a_list_cut_by_chunking_goes_on_from_its_first_number_and_letters_keep_their_kind():
    assert text_to_html("4. Fourth\n5. Fifth") == '<ol start="4"><li>Fourth</li><li>Fifth</li></ol>'
    assert text_to_html("a. One\nb. Two") == '<ol type="a"><li>One</li><li>Two</li></ol>'
    assert text_to_html("C. Three") == '<ol type="A" start="3"><li>Three</li></ol>'


def test_bullets_that_turn_into_numbers_start_a_new_list():
    assert text_to_html("- a\n1. b") == "<ul><li>a</li></ul>\n<ol><li>b</li></ol>"


def test_a_paragraph_followed_by_a_list_and_a_table_without_blank_lines_gives_each_its_element():
    html = text_to_html("Costs:\n- venue\n| a |\n| --- |\n| 1 |\nAfter.")
    assert html.startswith('<p class="section-label">Costs:</p>\n<ul><li>venue</li></ul>\n' + TABLE_SCROLL)
    assert html.endswith("</table></div>\n<p>After.</p>")


def test_nothing_in_gives_nothing_out():
    assert text_to_html("") == "" and text_to_html("\n\n") == "" and text_to_html("| --- |") == ""


def test_every_chunk_of_a_parsed_section_renders_its_tables_and_lists():
    rows = [["Item", "Cost", "Owner"]] + [[f"Item {i}", f"£{i}0", "Coordinator"] for i in range(40)]
    blocks = [
        Block(kind="heading", text="Budget", index=0, level=1),
        Block(kind="paragraph", text="Costs are reviewed every quarter.", index=1),
        Block(kind="list_item", text="- Venue hire", index=2),
        Block(kind="list_item", text="  1. Book early", index=3, level=1),
        Block(kind="table", text=render_table(rows, 1), index=4, rows=rows, header_rows=1),
    ]
    chunks = chunk_blocks(blocks, target=120, overlap=20)
    assert len(chunks) > 2  # the table was split: each piece repeats its header
    htmls = [str(text_to_html(chunk.text)) for chunk in chunks]
    assert "<ul><li>Venue hire<ol><li>Book early</li></ol></li></ul>" in htmls[0]
    table_chunks = [html for html in htmls if "<table>" in html]
    assert len(table_chunks) >= 2
    for html in table_chunks:
        assert "<thead><tr><th>Item</th><th>Cost</th><th>Owner</th></tr></thead>" in html
        assert "|" not in html and "---" not in html


def test_a_snippet_shows_a_tables_rows_as_text_without_pipes_or_separator():
    text = "Roles:\n\n" + render_table([["Role", "Duty"], ["Chair", "Leads | chairs"], ["Clerk", ""]], 1)
    assert plain_text(text + "\n\n- Meet monthly") == (
        "Roles: Role · Duty; Chair · Leads | chairs; Clerk - Meet monthly"
    )
