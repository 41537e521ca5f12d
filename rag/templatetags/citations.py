import re

from django import template
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe

register = template.Library()

CITATION = re.compile(r"\[(\d{1,3})\]")


@register.filter
def with_citation_links(answer: str, citations: list[dict]) -> str:
    """The answer, escaped, with each [n] that matches a citation turned into a link to its source."""
    urls = {c["n"]: c["url"] for c in citations or []}
    pieces, position = [], 0
    for match in CITATION.finditer(answer or ""):
        pieces.append(conditional_escape(answer[position : match.start()]))
        n = int(match.group(1))
        if n in urls:
            pieces.append(format_html('<a class="cite" href="{}" data-n="{}">[{}]</a>', urls[n], n, n))
        else:
            pieces.append(conditional_escape(match.group(0)))
        position = match.end()
    pieces.append(conditional_escape((answer or "")[position:]))
    return mark_safe("".join(str(piece) for piece in pieces))  # noqa: S308 - every piece is escaped above
