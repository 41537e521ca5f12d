from django import template
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe

from rag.answering import CITATION
from rag.rendering import source_url
from toolkit.text_html import text_to_html

register = template.Library()


@register.filter
def with_citation_links(answer: str, citations: list[dict]) -> SafeString:
    """The answer as HTML (paragraphs, lists, tables: toolkit/text_html.py), every piece escaped,
    with each [n] that matches a citation turned into a link to its source."""
    chunk_urls = {c["n"]: source_url(c["chunk_id"]) for c in citations or [] if not c.get("unavailable")}
    return text_to_html(answer or "", inline=lambda text: linked_citations(text, chunk_urls))


def linked_citations(text: str, chunk_urls: dict[int, str]) -> SafeString:
    """`text` escaped, with each [n] that has a citation turned into a link to its source."""
    pieces, position = [], 0
    for match in CITATION.finditer(text):
        pieces.append(conditional_escape(text[position : match.start()]))
        n = int(match.group(1))
        if n in chunk_urls:
            pieces.append(format_html('<a class="cite" href="{}" data-n="{}">[{}]</a>', chunk_urls[n], n, n))
        else:
            pieces.append(conditional_escape(match.group(0)))
        position = match.end()
    pieces.append(conditional_escape(text[position:]))
    return mark_safe("".join(str(piece) for piece in pieces))  # noqa: S308 - every piece is escaped above


@register.filter(name="source_url")
def source_url_filter(chunk_id: int) -> str:
    """{{ c.chunk_id|source_url }}: the cited section's page, opened at the passage."""
    return source_url(chunk_id)
