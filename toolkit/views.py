from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from toolkit.access import viewer_of, visible_chunks
from toolkit.text_html import text_to_html

NEIGHBOURS = 2


@login_required
def source(request: HttpRequest, chunk_id: int) -> HttpResponse:
    """A cited section: the passage highlighted, its neighbours for context, the version's outline.
    A section of a toolkit the user may not see is a 404, like one that does not exist."""
    chunk = get_object_or_404(
        visible_chunks(viewer_of(request.user)).select_related("document__toolkit"),
        pk=chunk_id,
        document__status="ready",
    )
    document = chunk.document
    context_chunks = list(
        document.chunks.filter(
            ordinal__gte=chunk.ordinal - NEIGHBOURS, ordinal__lte=chunk.ordinal + NEIGHBOURS
        ).order_by("ordinal")
    )
    for part in context_chunks:
        part.html = text_to_html(part.text)  # paragraphs, lists and tables instead of raw text
    outline, seen = [], set()
    for chunk_pk, heading_path in document.chunks.order_by("ordinal").values_list("pk", "heading_path"):
        key = tuple(heading_path)
        if key not in seen:
            seen.add(key)
            outline.append(
                {"id": chunk_pk, "heading_path": heading_path, "depth": max(len(heading_path) - 1, 0)}
            )
    return render(
        request,
        "toolkit/source.html",
        {"chunk": chunk, "document": document, "context_chunks": context_chunks, "outline": outline},
    )
