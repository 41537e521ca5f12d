"""Every chunk is keyword-searchable by its toolkit's name (and its version's title): the words
are indexed with the chunk, counted in BM25's statistics, and filled in for existing chunks by
migration 0009."""

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from rag.retrieval import retrieve
from toolkit.access import EVERY_TOOLKIT
from toolkit.models import TermStatistic, ToolkitVersion
from toolkitrag.testing.docx_factory import make_docx
from toolkitrag.testing.toolkits import TOOLKIT, ingest_docx, ingest_toolkit

NAME = "Zephyrine Handbook"  # words that appear in no section of TOOLKIT


@pytest.mark.django_db
def test_a_word_only_in_the_toolkits_name_finds_its_chunks():
    version = ingest_toolkit(name=NAME)
    ingest_toolkit(name="Other Toolkit")
    result = retrieve("zephyrine", top_k=10, viewer=EVERY_TOOLKIT)
    assert result.chunks and {c.toolkit for c in result.chunks} == {NAME}
    assert len(result.chunks) == version.chunks.count()


@pytest.mark.django_db
def test_the_versions_own_title_is_indexed_but_not_its_first_heading():
    version = ingest_docx(make_docx(TOOLKIT, title="Resilience Plan"), "v1", NAME)
    assert set(version.chunks.values_list("title", flat=True)) == {f"{NAME}\nResilience Plan"}
    untitled = ingest_toolkit(name="Other Toolkit")
    assert untitled.title == "1 Planning"  # no title in the file: its first heading, a section's
    assert set(untitled.chunks.values_list("title", flat=True)) == {"Other Toolkit"}


@pytest.mark.django_db
def test_term_statistics_count_the_title_in_every_chunk():
    version = ingest_toolkit(name=NAME)
    chunks = version.chunks.count()
    assert TermStatistic.objects.get(document=version, term="zephyrin").chunk_count == chunks
    assert TermStatistic.objects.get(document=version, term="handbook").chunk_count == chunks


def statistics(version: ToolkitVersion) -> tuple:
    version.refresh_from_db()
    terms = dict(TermStatistic.objects.filter(document=version).values_list("term", "chunk_count"))
    return version.chunk_count, version.term_total, terms


@pytest.mark.django_db(transaction=True)
def test_migrating_fills_titles_of_existing_chunks_and_recounts_their_terms():
    version = ingest_docx(make_docx(TOOLKIT, title="Resilience Plan"), "v1", NAME)
    untitled = ingest_toolkit(name="Other Toolkit")
    ingested = statistics(version)

    call_command("migrate", "toolkit", "0008", verbosity=0)
    before = statistics(version)
    assert "zephyrin" not in before[2] and before[1] < ingested[1]

    call_command("migrate", verbosity=0)  # every app: going back unapplied those depending on toolkit
    assert set(version.chunks.values_list("title", flat=True)) == {f"{NAME}\nResilience Plan"}
    assert set(untitled.chunks.values_list("title", flat=True)) == {"Other Toolkit"}
    assert statistics(version) == ingested  # as if ingested with titles
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'toolkit_chunks_search_gin'")
        assert "gin (search_vector)" in cursor.fetchone()[0]
    assert retrieve("zephyrine", top_k=1, viewer=EVERY_TOOLKIT).chunks[0].toolkit == NAME


@pytest.mark.django_db
def test_renaming_the_toolkit_or_retitling_a_version_in_the_admin_reindexes_the_title(client, toolkit_admin):
    version = ingest_toolkit(name="Old Name")
    client.force_login(toolkit_admin)
    url = reverse("admin:toolkit_toolkit_change", args=[version.toolkit_id])
    response = client.post(
        url, {"name": NAME, "description": "", "language": "english", "access": "signed_in"}
    )
    assert response.status_code == 302
    assert retrieve("zephyrine", top_k=10, viewer=EVERY_TOOLKIT).chunks[0].toolkit == NAME
    assert not retrieve(
        "old name", top_k=10, viewer=EVERY_TOOLKIT
    ).chunks  # "old" and "name" were only in the title
    assert TermStatistic.objects.get(document=version, term="zephyrin").chunk_count == version.chunks.count()

    url = reverse("admin:toolkit_toolkitversion_change", args=[version.pk])
    response = client.post(url, {"title": "Quillwort Guide"})
    assert response.status_code == 302
    assert set(version.chunks.values_list("title", flat=True)) == {f"{NAME}\nQuillwort Guide"}
    assert retrieve("quillwort", top_k=1, viewer=EVERY_TOOLKIT).chunks
