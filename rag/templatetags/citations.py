from django import template
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe

from rag.answering import CITATION
from rag.rendering import source_url

register = template.Library()


@register.filter
def with_citation_links(answer: str, citations: list[dict]) -> str:
    """The answer, escaped, with each [n] that matches a citation turned into a link to its source."""
    chunk_ids = {c["n"]: c["chunk_id"] for c in citations or []}
    pieces, position = [], 0
    for match in CITATION.finditer(answer or ""):
        pieces.append(conditional_escape(answer[position : match.start()]))
        n = int(match.group(1))
        if n in chunk_ids:
            pieces.append(
                format_html('<a class="cite" href="{}" data-n="{}">[{}]</a>', source_url(chunk_ids[n]), n, n)
            )
        else:
            pieces.append(conditional_escape(match.group(0)))
        position = match.end()
    pieces.append(conditional_escape((answer or "")[position:]))
    return mark_safe("".join(str(piece) for piece in pieces))  # noqa: S308 - every piece is escaped above
