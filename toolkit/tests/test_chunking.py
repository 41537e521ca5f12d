from toolkit.chunking import chunk_blocks, estimate_tokens, split_into_sections
from toolkit.docx_parser import Block, render_table


def blocks(*items) -> list[Block]:
    out = []
    for kind, *rest in items:
        if kind == "heading":
            out.append(Block("heading", rest[1], len(out), level=rest[0]))
        elif kind == "table":
            rows = rest[0]
            out.append(Block("table", render_table(rows, 1), len(out), rows=rows, header_rows=1))
        else:
            out.append(Block(kind, rest[0], len(out)))
    return out


def sentence(n: int) -> str:
    return f"Sentence number {n} talks about community planning and local budgets in some detail."


def test_chunks_never_mix_two_sections():
    doc = blocks(
        ("heading", 1, "Planning"), ("paragraph", "Plan " * 200),
        ("heading", 1, "Budget"), ("paragraph", "Money " * 200),
    )  # fmt: skip
    chunks = chunk_blocks(doc, target=350, overlap=40)
    assert [c.heading_path for c in chunks] == [["Planning"], ["Budget"]]
    assert "Money" not in chunks[0].text and "Plan" not in chunks[1].text


def test_heading_path_follows_the_hierarchy_and_is_prepended_for_embedding():
    doc = blocks(
        ("heading", 1, "2 Planning"), ("paragraph", "Overview " * 100),
        ("heading", 2, "2.3 Budget"), ("paragraph", "Costs " * 100),
        ("heading", 1, "3 Evaluation"), ("paragraph", "Measure " * 100),
    )  # fmt: skip
    sections = split_into_sections(doc)
    assert [s.heading_path for s in sections] == [
        ["2 Planning"],
        ["2 Planning", "2.3 Budget"],
        ["3 Evaluation"],
    ]
    chunk = chunk_blocks(doc, 350, 40)[1]
    assert chunk.heading == "2 Planning > 2.3 Budget"
    assert chunk.embedding_text().startswith("2 Planning > 2.3 Budget\n\nCosts")


def test_long_sections_split_near_the_target_with_overlap():
    doc = blocks(("heading", 1, "Long"), *[("paragraph", sentence(i)) for i in range(60)])
    chunks = chunk_blocks(doc, target=120, overlap=30)
    assert len(chunks) > 5
    assert all(c.token_count <= 120 for c in chunks)
    for first, second in zip(chunks, chunks[1:], strict=False):
        assert first.text.split("\n\n")[-1] == second.text.split("\n\n")[0]  # the last paragraph repeats
    covered = " ".join(c.text for c in chunks)
    assert all(sentence(i) in covered for i in range(60))


def test_one_huge_paragraph_is_cut_at_sentence_ends():
    doc = blocks(("heading", 1, "Wall of text"), ("paragraph", " ".join(sentence(i) for i in range(80))))
    chunks = chunk_blocks(doc, target=150, overlap=0)
    assert len(chunks) > 3
    assert all(c.text.endswith(".") for c in chunks)
    assert all(c.block_start == c.block_end == 1 for c in chunks)


def test_tables_split_by_rows_with_the_header_repeated():
    rows = [["Action", "Owner", "Deadline"]] + [
        [f"Action {i} to improve the park", "Team", "March"] for i in range(80)
    ]
    doc = blocks(("heading", 1, "Action plan"), ("table", rows))
    chunks = chunk_blocks(doc, target=200, overlap=40)
    assert len(chunks) > 3
    for chunk in chunks:
        lines = chunk.text.splitlines()
        assert lines[:2] == ["| Action | Owner | Deadline |", "| --- | --- | --- |"]
        assert chunk.token_count <= 200
    body_rows = [line for c in chunks for line in c.text.splitlines()[2:]]
    assert len(body_rows) == 80  # no row lost, none repeated as overlap


def test_short_sibling_subsections_merge_under_their_parent():
    doc = blocks(
        ("heading", 1, "Contacts"), ("paragraph", "Who to call."),
        ("heading", 2, "Police"), ("paragraph", "Dial 101."),
        ("heading", 2, "Council"), ("paragraph", "Call the front desk."),
        ("heading", 1, "Next"), ("paragraph", "Other things " * 150),
    )  # fmt: skip
    chunks = chunk_blocks(doc, target=350, overlap=40)
    assert chunks[0].heading_path == ["Contacts"]
    assert chunks[0].text == "Who to call.\n\nPolice\n\nDial 101.\n\nCouncil\n\nCall the front desk."
    assert chunks[1].heading_path == ["Next"]


def test_large_subsections_keep_their_own_chunks():
    doc = blocks(
        ("heading", 1, "Guide"), ("paragraph", "Intro."),
        ("heading", 2, "Part one"), ("paragraph", "Alpha " * 200),
        ("heading", 2, "Part two"), ("paragraph", "Beta " * 200),
    )  # fmt: skip
    assert [c.heading_path for c in chunk_blocks(doc, 350, 40)] == [
        ["Guide"],
        ["Guide", "Part one"],
        ["Guide", "Part two"],
    ]


def test_text_before_the_first_heading_has_an_empty_path():
    chunks = chunk_blocks(
        blocks(("paragraph", "Preface."), ("heading", 1, "One"), ("paragraph", "Body.")), 350, 40
    )
    assert chunks[0].heading_path == [] and chunks[0].embedding_text() == "Preface."


def test_token_estimate_is_close_to_word_count_and_counts_cjk_characters():
    assert 9 <= estimate_tokens("The quick brown fox jumps over the lazy dog.") <= 11
    assert estimate_tokens("东阳市八家单位") == 7
