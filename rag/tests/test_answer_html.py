"""An answer's text format shown as HTML in the chat: paragraphs, lists, tables and section labels,
every piece escaped and [n] linked only where a citation n exists. The JSON API keeps the text."""

import json

import pytest

from rag.templatetags.citations import with_citation_links
from toolkit.text_html import TABLE_BOX, parse

CITATIONS = [{"n": 1, "chunk_id": 7}, {"n": 2, "chunk_id": 8}]
LINK_1 = '<a class="cite" href="/toolkit/source/7#passage" data-n="1">[1]</a>'
LINK_2 = '<a class="cite" href="/toolkit/source/8#passage" data-n="2">[2]</a>'


def html(text: str, citations: list[dict] = CITATIONS) -> str:
    return str(with_citation_links(text, citations))


def test_paragraphs_are_split_on_blank_lines_and_single_newlines_become_line_breaks():
    assert html("First line [1]\nsecond line.\n\nNext paragraph [2].") == (
        f"<p>First line {LINK_1}<br>second line.</p>\n<p>Next paragraph {LINK_2}.</p>"
    )


def test_windows_line_endings_and_surrounding_blank_lines_change_nothing():
    assert html("\r\n\r\nOne\r\ntwo\r\n\r\n\r\nThree\r\n") == "<p>One<br>two</p>\n<p>Three</p>"


def test_an_empty_answer_is_no_html():
    assert html("") == "" and html(None) == "" and html("\n \n") == ""


def test_dash_lines_are_a_bullet_list_with_citations_in_items():
    assert html("- Open the rest centre [1]\n- Start the phone tree [2]") == (
        f"<ul><li>Open the rest centre {LINK_1}</li><li>Start the phone tree {LINK_2}</li></ul>"
    )


def test_numbered_lines_are_an_ordered_list_that_keeps_its_first_number():
    assert html("1. Walk the streets\n2. Agree priorities") == (
        "<ol><li>Walk the streets</li><li>Agree priorities</li></ol>"
    )
    # A list interrupted by a blank line goes on counting from where it was.
    assert html("3. Evaluate\n4. Report") == '<ol start="3"><li>Evaluate</li><li>Report</li></ol>'


def test_an_indented_line_continues_the_item_above_it():
    assert html("- Volunteers work in pairs\n  and carry identification\n- New ones shadow") == (
        "<ul><li>Volunteers work in pairs<br>and carry identification</li><li>New ones shadow</li></ul>"
    )


def test_a_section_number_is_not_a_numbered_item_and_a_short_line_ending_with_a_colon_is_a_label():
    assert html("4.1 Activation triggers:\n\n- Flood warning [1]") == (
        f'<p class="section-label">4.1 Activation triggers:</p>\n<ul><li>Flood warning {LINK_1}</li></ul>'
    )
    long_line = "The toolkit says a great deal about this, and in particular the following points:"
    assert html(long_line) == f"<p>{long_line}</p>"  # a sentence, not a label
    assert html("## Budget") == '<p class="section-label">Budget</p>'  # a model's Markdown heading


def test_a_table_with_a_separator_row_has_a_header_and_the_separator_is_not_shown():
    text = "| Role | Duty |\n| --- | :---: |\n| Treasurer | Reviews the budget [1] |\n| Chair | Leads |"
    assert html(text) == (
        f"{TABLE_BOX}<table>"
        "<thead><tr><th>Role</th><th>Duty</th></tr></thead>"
        f"<tbody><tr><td>Treasurer</td><td>Reviews the budget {LINK_1}</td></tr>"
        "<tr><td>Chair</td><td>Leads</td></tr></tbody>"
        "</table></div>"
    )


def test_a_table_without_a_separator_has_no_header_and_short_rows_are_padded():
    assert html("| Treasurer | Budget |\n| Chair") == (
        f"{TABLE_BOX}<table><tbody>"
        "<tr><td>Treasurer</td><td>Budget</td></tr><tr><td>Chair</td><td></td></tr>"
        "</tbody></table></div>"
    )


def test_no_raw_pipe_of_a_table_is_ever_shown_and_an_escaped_pipe_stays_text():
    text = "|A|B|\n|---|---|\n|a \\| b|c|\n|---|---|\n| d | e |"
    out = html(text)
    assert "<td>a | b</td>" in out
    assert out.count("|") == 1  # the escaped one, inside its cell
    assert "---" not in out


def test_mixed_answer_keeps_the_order_of_its_blocks():
    text = (
        "Flood plan [1]\n"
        "Steps:\n"
        "1. Open the hall\n"
        "2. Start the phone tree\n"
        "| Who | What |\n"
        "| --- | --- |\n"
        "| Coordinator | Opens the hall [2] |\n"
        "Afterwards, report back.\n"
        "\n"
        "- Keep the key safe"
    )
    assert [block.kind for block in parse(text)] == ["paragraph", "ol", "table", "paragraph", "ul"]
    out = html(text)
    assert out.index("<ol>") < out.index("<table>") < out.index("<p>Afterwards") < out.index("<ul>")
    assert f"<td>Opens the hall {LINK_2}</td>" in out
    assert "<p>Flood plan " + LINK_1 + "<br>Steps:</p>" in out


def test_hostile_html_is_escaped_everywhere():
    evil = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    text = f"{evil}\n\n- {evil}\n1. {evil}\n| {evil} |\n| --- |\n| {evil} [1] |\n\n{evil}:"
    out = html(text)
    assert "<script" not in out and "<img" not in out
    assert (
        out.count("&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=&quot;alert(2)&quot;&gt;") == 6
    )
    assert html('[1]"><b>x</b>') == f"<p>{LINK_1}&quot;&gt;&lt;b&gt;x&lt;/b&gt;</p>"


def test_only_known_citation_numbers_become_links_anywhere():
    out = html("See [1] and [3].\n\n- item [9]\n\n| cell [2] | cell [4] |", CITATIONS)
    assert out.count('class="cite"') == 2
    assert "[3]" in out and "<li>item [9]</li>" in out and "<td>cell [4]</td>" in out
    assert f"<td>cell {LINK_2}</td>" in out
    assert html("[1]", []) == "<p>[1]</p>"


@pytest.mark.django_db
def test_the_json_api_returns_the_answer_text_unchanged_and_the_chat_shows_it_as_html(
    owner_client, owner, toolkit_document
):
    from rag.models import Message

    answer = owner_client.post(
        "/api/rag/answer",
        data=json.dumps({"query": "How often is the budget reviewed?"}),
        content_type="application/json",
    ).json()
    message = Message.objects.get(pk=answer["message_id"])
    text = (
        "Budget steps:\n\n- Reviewed quarterly [1]\n\n"
        "| Who | When |\n| --- | --- |\n| Treasurer | Quarterly [1] |"
    )
    Message.objects.filter(pk=message.pk).update(answer=text)
    page = owner_client.get(f"/toolkit/c/{message.conversation_id}").content.decode()
    chunk_id = answer["citations"][0]["chunk_id"]
    link = f'<a class="cite" href="/toolkit/source/{chunk_id}#passage" data-n="1">[1]</a>'
    assert '<p class="section-label">Budget steps:</p>' in page
    assert f"<li>Reviewed quarterly {link}</li>" in page
    assert f"<td>Quarterly {link}</td>" in page and "| --- |" not in page
    detail = owner_client.get(f"/api/rag/conversations/{message.conversation_id}").json()
    assert detail["messages"][0]["answer"] == text  # plain text, as stored
