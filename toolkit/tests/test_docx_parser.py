import io
from pathlib import Path

import pytest

from toolkit.chunking import chunk_blocks
from toolkit.docx_parser import parse_docx
from toolkit.docx_validation import DocxRejected, validate_docx
from toolkitrag.testing.docx_factory import SHARED_DOCX, make_docx, shared_docx, toolkit_spec


def parse(spec, **kwargs):
    return parse_docx(io.BytesIO(make_docx(spec, **kwargs)))


def texts(parsed, kind=None):
    return [b.text for b in parsed.blocks if kind is None or b.kind == kind]


def test_headings_paragraphs_lists_and_tables_in_document_order():
    parsed = parse(toolkit_spec(), title="Community Toolkit")
    assert parsed.title == "Community Toolkit"
    kinds = [b.kind for b in parsed.blocks]
    assert kinds[:4] == ["heading", "paragraph", "heading", "paragraph"]
    assert [b.level for b in parsed.blocks if b.kind == "heading"] == [1, 2, 1, 2, 1]
    assert texts(parsed, "list_item") == [
        "- Map the assets of the neighbourhood",
        "- Interview at least ten residents",
    ]
    (table,) = [b for b in parsed.blocks if b.kind == "table"]
    assert table.rows[0] == ["Item", "Cost", "Owner"]
    assert table.text.splitlines()[:3] == [
        "| Item | Cost | Owner |",
        "| --- | --- | --- |",
        "| Venue hire | £200 | Coordinator |",
    ]
    assert [b.index for b in parsed.blocks] == list(range(len(parsed.blocks)))


def test_numbered_lists_count():
    parsed = parse([("number", "First"), ("number", "Second"), ("number", "Third")])
    assert texts(parsed) == ["1. First", "2. Second", "3. Third"]


def test_title_defaults_to_first_heading():
    assert parse([("p", "intro"), ("h1", "Safeguarding"), ("p", "x")]).title == "Safeguarding"


def test_custom_styles_with_an_outline_level_are_headings():
    parsed = parse([("outline", 1, "Part A"), ("p", "a"), ("outline", 2, "Part A.1"), ("p", "b")])
    assert [(b.kind, b.level) for b in parsed.blocks if b.kind == "heading"] == [
        ("heading", 1),
        ("heading", 2),
    ]


def test_empty_paragraphs_and_whitespace_are_normalised():
    parsed = parse([("p", "  lots   of\tspace  "), ("p", ""), ("p", "   ")])
    assert texts(parsed) == ["lots of space"]


def test_document_without_text_is_rejected():
    with pytest.raises(DocxRejected, match="no text"):
        parse([("p", "")])


def test_footnotes_and_endnotes_are_kept_next_to_their_reference():
    parsed = parse_docx(shared_docx("pandoc_notes.docx"))
    assert texts(parsed)[1:] == [
        "Test footnote.[^1] Test endnote.[^2]",
        "[^1]: My note.",
        "[^2]: This is an endnote at the end of the document.",
    ]


def test_footnote_in_a_table_cell_is_kept():
    assert "[^1]: snoska" in texts(parse_docx(shared_docx("poi_table_footnotes.docx")))


def test_tracked_insertions_count_and_moves_appear_once():
    assert texts(parse_docx(shared_docx("pandoc_track_changes_insertion.docx"))) == [
        "This is a text with two exciting insertions."
    ]
    moved = texts(parse_docx(shared_docx("pandoc_track_changes_move.docx")))
    assert sum("text to be moved" in text for text in moved) == 1


def test_tracked_deletions_are_left_out():
    joined = " ".join(texts(parse_docx(shared_docx("poi_delins.docx"))))
    assert "Also known as Maang Tika" not in joined  # w:delText of a tracked deletion
    assert "tilaka" not in joined
    assert len(joined) > 500  # the rest of the document is kept


def test_field_codes_do_not_leak_into_text():
    joined = " ".join(texts(parse_docx(shared_docx("poi_FieldCodes.docx"))))
    assert "AUTHOR" not in joined and "CREATEDATE" not in joined
    assert "ANTONI" in joined  # the field's result is what Word shows


def test_text_boxes_and_hyperlinks_are_read():
    assert texts(parse_docx(shared_docx("mammoth_text-box.docx"))) == ["Datum plane"]
    links = " ".join(texts(parse_docx(shared_docx("pandoc_links.docx"))))
    assert "external link" in links


def test_heading_hierarchy_from_a_real_word_file():
    parsed = parse_docx(shared_docx("poi_heading123.docx"))
    assert [(b.level, b.text) for b in parsed.blocks if b.kind == "heading"] == [
        (1, "First paragraph"),
        (2, "Second paragraph"),
        (3, "Third paragraph"),
    ]


def test_merged_and_offset_table_cells_keep_columns_aligned():
    (table,) = [
        b for b in parse_docx(shared_docx("pandoc_table_gridbefore.docx")).blocks if b.kind == "table"
    ]
    assert len({len(row) for row in table.rows}) == 1


def real_world_files() -> list[Path]:
    return sorted(SHARED_DOCX.glob("*.docx")) if SHARED_DOCX.exists() else []


@pytest.mark.skipif(not real_world_files(), reason="needs ../shared/eval/docx (the shared evaluation corpus)")
@pytest.mark.parametrize("path", real_world_files(), ids=lambda p: p.name)
def test_every_real_world_file_ingests_with_text_or_fails_clearly(path):
    try:
        validate_docx(path)
        parsed = parse_docx(path, fallback_title=path.stem)
    except DocxRejected as error:
        assert str(error).endswith(".") and len(str(error)) > 20
        return
    chunks = chunk_blocks(parsed.blocks, 350, 40)
    assert chunks and all(chunk.text.strip() for chunk in chunks)
    assert parsed.title
    assert all(chunk.token_count <= 350 * 1.2 for chunk in chunks)
