"""One answer renderer: an answer message's HTML comes from templates/rag/message.html only.

The chat history renders it on the page; the streamed answer's final event carries the same
HTML, which the browser swaps in for the text it streamed. Citations are stored with their chunk
id, never a URL: links are built here, when shown, so a changed route never leaves dead links in
the database.
"""

from django.template.loader import render_to_string
from django.urls import reverse

from rag.models import Message
from toolkit.access import Viewer, hidden_citation_test

UNAVAILABLE = "This section is no longer available to you."


def source_url(chunk_id: int) -> str:
    """The page that shows a cited section highlighted in its version of the toolkit, opened at
    the passage (the id of its highlighted element, templates/toolkit/source.html)."""
    return reverse("toolkit-source", args=[chunk_id]) + "#passage"


def with_urls(citations: list[dict]) -> list[dict]:
    """Citations as the JSON API shows them: each with the `url` of its section (none for one
    that is no longer available to the reader: `for_viewer`)."""
    return [
        citation if citation.get("unavailable") else {**citation, "url": source_url(citation["chunk_id"])}
        for citation in citations
    ]


def for_viewer(citation_lists: list[list[dict]], viewer: Viewer) -> list[list[dict]]:
    """Stored citations (of one answer each) as the reader may see them now: one of a toolkit they
    can no longer see (toolkit.access) keeps its number only, without its toolkit, heading or text."""
    is_hidden = hidden_citation_test(viewer, [c for citations in citation_lists for c in citations])
    return [
        [
            {"n": c["n"], "chunk_id": None, "unavailable": UNAVAILABLE} if is_hidden(c) else c
            for c in citations
        ]
        for citations in citation_lists
    ]


def message_html(message: Message, sources: list[dict] | None = None) -> str:
    """The answer as the chat history shows it; `sources` (what retrieval found) when it failed."""
    return render_to_string("rag/message.html", {"message": message, "sources": sources})
