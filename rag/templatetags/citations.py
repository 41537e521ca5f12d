from django import template
from django.utils.safestring import SafeString

from rag.answer_html import linked_citations, render
from rag.rendering import source_url

register = template.Library()


@register.filter
def with_citation_links(answer: str, citations: list[dict]) -> SafeString:
    """The answer as HTML (paragraphs, lists, tables: rag/answer_html.py), every piece escaped,
    with each [n] that matches a citation turned into a link to its source."""
    chunk_urls = {c["n"]: source_url(c["chunk_id"]) for c in citations or []}
    return render(answer or "", lambda text: linked_citations(text, chunk_urls))
