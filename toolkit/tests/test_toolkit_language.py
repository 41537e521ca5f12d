import pytest
from django.urls import reverse

from rag.relevance import is_relevant
from rag.retrieval import retrieve
from toolkit import search
from toolkit.access import EVERY_TOOLKIT
from toolkit.models import Chunk, TermStatistic, Toolkit
from toolkitrag.testing.toolkits import RUSSIAN_TOOLKIT, ingest_toolkit

pytestmark = pytest.mark.django_db

# "checked" and "budgets": the section says "проверяет бюджет" ("checks the budget").
INFLECTED = "Когда проверяют бюджеты?"


def headings(retrieval):
    return [chunk.heading for chunk in retrieval.chunks]


def test_a_toolkit_in_its_language_matches_other_forms_of_a_word():
    ingest_toolkit(RUSSIAN_TOOLKIT, name="По-русски", language="russian")
    result = retrieve(INFLECTED, top_k=3, viewer=EVERY_TOOLKIT)
    assert result.mode == "keyword"
    assert headings(result)[0] == "1 Планирование > 1.1 Бюджет"
    assert is_relevant(result)  # the gate reads the passage in Russian too
    assert Chunk.objects.filter(search_config="russian").count() == Chunk.objects.count()


def test_read_as_english_the_same_toolkit_misses_them():
    ingest_toolkit(RUSSIAN_TOOLKIT, name="As before")
    assert retrieve(INFLECTED, top_k=3, viewer=EVERY_TOOLKIT).chunks == []


def test_changing_the_language_in_the_admin_reindexes_every_version(client, toolkit_admin):
    v1 = ingest_toolkit(RUSSIAN_TOOLKIT, name="Набор")
    v2 = ingest_toolkit(RUSSIAN_TOOLKIT[:4], version="v2", name="Набор", activate=False)
    kit = Toolkit.objects.get(name="Набор")
    client.force_login(toolkit_admin)
    response = client.post(
        reverse("admin:toolkit_toolkit_change", args=[kit.pk]),
        {"name": kit.name, "description": "", "language": "russian", "access": "signed_in"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert set(Chunk.objects.values_list("search_config", flat=True)) == {"russian"}
    for version in (v1, v2):
        terms = set(TermStatistic.objects.filter(document=version).values_list("term", flat=True))
        assert "бюджет" in terms and "казнач" in terms and "казначей" not in terms
    assert headings(retrieve(INFLECTED, top_k=3, viewer=EVERY_TOOLKIT))[0] == "1 Планирование > 1.1 Бюджет"


def test_a_question_is_read_in_every_language_searched_without_their_stop_words_or_stray_forms():
    ingest_toolkit()  # English
    ingest_toolkit(RUSSIAN_TOOLKIT, name="По-русски", language="russian")
    # "как" is a Russian stop word; English's unstemmed "проверяют" and "бюджет" readings are
    # found nowhere while the Russian ones are, so they add nothing.
    assert set(search.term_weights("Как часто проверяют бюджет?", None, viewer=EVERY_TOOLKIT)) == {
        "част",
        "проверя",
        "бюджет",
    }
    # English questions read as before ("how", "is" and "the" are stop words in both).
    assert set(search.term_weights("How often is the budget reviewed?", None, viewer=EVERY_TOOLKIT)) == {
        "often",
        "budget",
        "review",
    }
    assert headings(retrieve(INFLECTED, top_k=3, viewer=EVERY_TOOLKIT))[0] == "1 Планирование > 1.1 Бюджет"
    assert (
        headings(retrieve("How often is the budget reviewed?", top_k=3, viewer=EVERY_TOOLKIT))[0]
        == "1 Planning > 1.1 Budget"
    )


def test_simple_keeps_every_word_as_written():
    ingest_toolkit(RUSSIAN_TOOLKIT, name="Other", language="simple")
    assert set(search.term_weights("Как проверяет бюджет", None, viewer=EVERY_TOOLKIT)) == {
        "как",
        "проверяет",
        "бюджет",
    }
    assert retrieve(INFLECTED, top_k=3, viewer=EVERY_TOOLKIT).chunks == []
