"""The source view: a cited section as readable HTML, highlighted, and linked to at its passage."""

import re
from urllib.parse import urlsplit

import pytest

from rag.rendering import source_url
from toolkitrag.testing.docx_factory import toolkit_spec
from toolkitrag.testing.toolkits import ingest_toolkit

pytestmark = pytest.mark.django_db


@pytest.fixture
def document(db):
    """A toolkit with sections, a bulleted list and a table (docx_factory.toolkit_spec)."""
    return ingest_toolkit(toolkit_spec())


def test_a_table_section_shows_a_real_table_and_no_markdown_pipes(owner_client, document):
    chunk = document.chunks.get(heading="2 Planning > 2.3 Budget")
    assert "| --- | --- | --- |" in chunk.text  # what ingestion stores
    page = owner_client.get(f"/toolkit/source/{chunk.pk}").content.decode()
    passage = page[page.index('id="passage"') : page.index("</section>", page.index('id="passage"'))]
    assert "<thead><tr><th>Item</th><th>Cost</th><th>Owner</th></tr></thead>" in passage
    assert "<tr><td>Venue hire</td><td>£200</td><td>Coordinator</td></tr>" in passage
    assert "<p>The budget is reviewed every quarter" in passage
    assert "| ---" not in page and "| Venue hire" not in page


def test_a_list_section_shows_a_list(owner_client, document):
    chunk = document.chunks.get(heading="2 Planning")
    page = owner_client.get(f"/toolkit/source/{chunk.pk}").content.decode()
    assert (
        "<ul><li>Map the assets of the neighbourhood</li><li>Interview at least ten residents</li></ul>"
        in page
    )


def test_links_to_a_source_open_at_the_highlighted_passage(owner_client, document):
    chunk = document.chunks.get(heading="2 Planning > 2.3 Budget")
    url = urlsplit(source_url(chunk.pk))
    assert url.path == f"/toolkit/source/{chunk.pk}" and url.fragment == "passage"
    page = owner_client.get(url.path).content.decode()
    assert page.count(f'id="{url.fragment}"') == 1
    assert re.search(r'<section class="passage passage-cited" id="passage"[^>]*>\s*<h1>2.3 Budget</h1>', page)
    outline_links = re.findall(r'href="(/toolkit/source/\d+[^"]*)"', page)
    sections = document.chunks.values_list("heading", flat=True).distinct()
    assert len(outline_links) == sections.count() and all(link.endswith("#passage") for link in outline_links)


def test_the_page_runs_no_inline_script(owner_client, document):
    """The fallback that adds #passage to links without it is a static file the CSP allows."""
    response = owner_client.get(f"/toolkit/source/{document.chunks.first().pk}")
    scripts = re.findall(r"<script\b[^>]*>", response.content.decode())
    assert scripts == ['<script src="/static/toolkit/source.js" defer>']
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]


def test_an_unknown_or_unready_section_is_not_found(owner_client, document):
    assert owner_client.get("/toolkit/source/999999").status_code == 404
    document.status = "failed"
    document.save(update_fields=["status"])
    assert owner_client.get(f"/toolkit/source/{document.chunks.first().pk}").status_code == 404
