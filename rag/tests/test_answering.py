from rag.answering import check_citations, number_sources
from rag.retrieval import RetrievedChunk


def chunk(n: int, text: str, heading: str = "Section") -> RetrievedChunk:
    return RetrievedChunk(
        chunk_id=100 + n, document_id=1, ordinal=n, toolkit="Kit", version_tag="v1", heading=heading,
        heading_path=[heading], text=text, score=1.0 / n,
    )  # fmt: skip


SOURCES = number_sources(
    [
        chunk(1, "The budget is reviewed every quarter. Spending over £500 needs two trustees."),
        chunk(2, "Volunteers carry identification. They work in pairs."),
        chunk(3, "| Item | Cost |\n| --- | --- |\n| Venue | £200 |"),
    ]
)


def test_invented_citation_numbers_are_removed_and_reported():
    text, cited, removed = check_citations("Quarterly [1]. Pairs [2][7]. Made up [12].", SOURCES)
    assert text == "Quarterly [1]. Pairs [2]. Made up."
    assert [s.n for s in cited] == [1, 2]
    assert removed == [7, 12]


def test_sources_never_cited_are_not_citations():
    _, cited, _ = check_citations("Only the second source matters [2], again [2].", SOURCES)
    assert [s.citation()["n"] for s in cited] == [2]


def test_citation_carries_toolkit_version_heading_and_snippet_but_no_url():
    citation = SOURCES[0].citation()
    assert citation == {
        "n": 1,
        "chunk_id": 101,
        "toolkit": "Kit",
        "version_tag": "v1",
        "heading_path": ["Section"],
        "snippet": "The budget is reviewed every quarter. Spending over £500 needs two trustees.",
    }  # the url is built from chunk_id when shown (rag/rendering.py), never stored
