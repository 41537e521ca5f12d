"""Who sees which toolkit, at the level of retrieval: a toolkit restricted to groups is left out of
the scope every search statement starts from, so neither the keyword side (with the keyword index,
without it, or with it missing) nor the vector side nor their fusion nor BM25's statistics ever
see a chunk of it for someone outside the groups. Staff see every toolkit."""

import pytest
from django.contrib.auth.models import Group

from rag.retrieval import embed_query, retrieve
from toolkit import keyword_index, search
from toolkit.access import EVERY_TOOLKIT, viewer_of, visible_toolkits
from toolkit.models import Access, Chunk
from toolkitrag.testing.toolkits import ingest_toolkit, restrict_toolkit

pytestmark = pytest.mark.django_db

# Both toolkits answer the budget question; each has a marker word no other toolkit uses.
OPEN = [
    ("h1", "Budget review"),
    ("p", "The budget is reviewed every quarter by the treasurer at the ambergrove."),
]
RESTRICTED = [
    ("h1", "Budget review for the board"),
    ("p", "The budget is reviewed every quarter by the board, who meet at the zenthaline."),
]
QUESTION = "How often is the budget reviewed every quarter?"


@pytest.fixture
def kits(db, django_user_model):
    open_version = ingest_toolkit(OPEN, name="Open Toolkit")
    restricted_version = ingest_toolkit(RESTRICTED, name="Board Toolkit")
    (board,) = restrict_toolkit(restricted_version, "board")
    outsider = django_user_model.objects.create_user("outsider", "outsider@example.org", "x")
    outsider.groups.add(Group.objects.create(name="volunteers"))
    insider = django_user_model.objects.create_user("insider", "insider@example.org", "x")
    insider.groups.add(board)
    staff = django_user_model.objects.create_user("staffer", "staffer@example.org", "x", is_staff=True)
    return {
        "open": open_version,
        "restricted": restricted_version,
        "outsider": viewer_of(outsider),
        "insider": viewer_of(insider),
        "staff": viewer_of(staff),
        "restricted_chunks": set(
            Chunk.objects.filter(document=restricted_version).values_list("pk", flat=True)
        ),
    }


def texts(chunk_ids) -> str:
    return " ".join(Chunk.objects.filter(pk__in=list(chunk_ids)).values_list("text", flat=True))


@pytest.fixture(params=["keyword index", "SQL path (index turned off)", "index missing (fallback)"])
def keyword_path(request, settings, kits):
    if request.param == "SQL path (index turned off)":
        settings.KEYWORD_CANDIDATES = 0
    elif request.param == "index missing (fallback)":
        keyword_index.delete(kits["open"].pk)
        keyword_index.delete(kits["restricted"].pk)
    return request.param


def keyword_ids(viewer, version_ids=None) -> list[int]:
    candidates = keyword_index.candidates(QUESTION, version_ids, at_least=10, viewer=viewer)
    return [
        hit.chunk_id for hit in search.keyword_search(QUESTION, version_ids, 10, candidates, viewer=viewer)
    ]


def test_the_keyword_side_leaves_out_a_restricted_toolkit_for_outsiders(kits, keyword_path):
    outside = keyword_ids(kits["outsider"])
    assert outside and not set(outside) & kits["restricted_chunks"]
    assert "ambergrove" in texts(outside) and "zenthaline" not in texts(outside)
    # naming the restricted version outright changes nothing
    assert keyword_ids(kits["outsider"], [kits["restricted"].pk]) == []
    for viewer in (kits["insider"], kits["staff"]):
        assert "zenthaline" in texts(keyword_ids(viewer)), keyword_path


def test_the_keyword_index_is_only_asked_for_visible_versions(kits):
    candidates = keyword_index.candidates(QUESTION, None, viewer=kits["outsider"])
    assert candidates.chunk_ids and not set(candidates.chunk_ids) & kits["restricted_chunks"]
    keyword_index.delete(kits["restricted"].pk)  # an unusable index of an invisible version is not searched
    candidates = keyword_index.candidates(QUESTION, None, viewer=kits["outsider"])
    assert candidates.unindexed_version_ids == []
    assert keyword_index.candidates(QUESTION, None, viewer=kits["insider"]).unindexed_version_ids == [
        kits["restricted"].pk
    ]


def test_bm25_statistics_count_only_visible_versions(kits):
    outside = search.term_weights("zenthaline budget", None, viewer=kits["outsider"])
    inside = search.term_weights("zenthaline budget", None, viewer=kits["insider"])
    assert outside["zenthalin"].chunks == 0 and inside["zenthalin"].chunks == 1
    assert outside["budget"].chunks == 1 and inside["budget"].chunks == 2


def test_the_vector_side_and_hybrid_leave_out_a_restricted_toolkit_for_outsiders(fake_openai, kits):
    restricted_chunks = set(Chunk.objects.filter(document=kits["restricted"]).values_list("pk", flat=True))
    assert Chunk.objects.filter(embedding__isnull=False).count() == Chunk.objects.count()
    vector = embed_query(QUESTION)
    nearest = [hit.chunk_id for hit in search.vector_search(vector, None, 10, viewer=kits["outsider"])]
    assert nearest and not set(nearest) & restricted_chunks
    assert restricted_chunks <= {
        hit.chunk_id for hit in search.vector_search(vector, None, 10, viewer=kits["insider"])
    }
    for retrievers in (("keyword", "vector"), ("vector",)):
        outside = retrieve(QUESTION, 10, retrievers=retrievers, viewer=kits["outsider"])
        assert outside.mode in ("hybrid", "vector") and outside.chunks
        assert all(chunk.toolkit == "Open Toolkit" for chunk in outside.chunks)
        inside = retrieve(QUESTION, 10, retrievers=retrievers, viewer=kits["insider"])
        assert {chunk.toolkit for chunk in inside.chunks} == {"Open Toolkit", "Board Toolkit"}


def test_restricted_with_no_group_is_staff_only_and_opening_it_shows_it_to_everyone(kits):
    toolkit = kits["restricted"].toolkit
    toolkit.groups.clear()
    assert search.active_version_ids(kits["insider"]) == [kits["open"].pk]
    assert set(search.active_version_ids(kits["staff"])) == {kits["open"].pk, kits["restricted"].pk}
    assert set(search.active_version_ids(EVERY_TOOLKIT)) == {kits["open"].pk, kits["restricted"].pk}
    toolkit.access = Access.SIGNED_IN
    toolkit.save()
    assert set(visible_toolkits(kits["outsider"]).values_list("name", flat=True)) == {
        "Open Toolkit",
        "Board Toolkit",
    }


def test_staff_restrict_a_toolkit_to_groups_in_the_admin(client, toolkit_admin, kits):
    from django.urls import reverse

    toolkit = kits["open"].toolkit
    client.force_login(toolkit_admin)
    url = reverse("admin:toolkit_toolkit_change", args=[toolkit.pk])
    form = {"name": toolkit.name, "description": "", "language": "english", "access": "groups"}
    volunteers = Group.objects.get(name="volunteers")
    response = client.post(url, {**form, "groups": [volunteers.pk]})
    assert response.status_code == 302, response.content.decode()[:2000]
    toolkit.refresh_from_db()
    assert toolkit.access == Access.GROUPS and list(toolkit.groups.all()) == [volunteers]
    assert kits["open"].pk in search.active_version_ids(kits["outsider"])  # a volunteer
    assert kits["open"].pk not in search.active_version_ids(kits["insider"])
    listing = client.get(reverse("admin:toolkit_toolkit_changelist")).content.decode()
    assert '<td class="field-access_summary">volunteers</td>' in listing
    assert '<td class="field-access_summary">board</td>' in listing
