"""A toolkit restricted to a group, as its outsiders and insiders meet it in the chat: a question
only it covers is refused for outsiders (naming none of its sections), answered for insiders; the
chooser and the example questions leave it out; its id is refused like an unknown one; its source
pages are a 404; and citations made before someone lost access say so, without its text."""

import json

import pytest
from django.contrib.auth.models import Group

from rag.answering import NOT_COVERED
from rag.tests.test_api import STREAM_URL, post, read_events
from toolkit.access import viewer_of
from toolkit.models import Chunk
from toolkitrag.testing.toolkits import ingest_toolkit, restrict_toolkit

pytestmark = pytest.mark.django_db

HIVES = [
    ("h1", "1 Hives"),
    (
        "p",
        "The hives are inspected every fortnight by the apiarist. "
        "Each inspection is written in the hive log with the date and the queen's state.",
    ),
    ("h1", "2 Honey"),
    ("p", "Honey is harvested in late summer once the frames are capped."),
]
QUESTION = "When does the apiarist inspect the hives?"  # only the restricted toolkit covers it
RESTRICTED_WORDS = ["Hives", "Honey", "fortnight", "queen", "Beekeeping"]  # none is in QUESTION


@pytest.fixture
def kits(db):
    community = ingest_toolkit()
    bees = ingest_toolkit(HIVES, name="Beekeeping Toolkit")
    restrict_toolkit(bees, "beekeepers")
    return community, bees


@pytest.fixture
def insider(django_user_model, kits):
    user = django_user_model.objects.create_user("insider", "insider@example.org", "x")
    user.groups.add(Group.objects.get(name="beekeepers"))
    return user


def client_for(client, user):
    client.force_login(user)
    return client


def shows_nothing_restricted(text: str) -> None:
    for word in RESTRICTED_WORDS:
        assert word not in text, word


def test_a_question_only_a_restricted_toolkit_covers_is_refused_for_outsiders_and_names_none_of_it(
    owner_client, kits
):
    body = post(owner_client, {"query": QUESTION}).json()
    assert body["answered"] is False and body["answer"].startswith(NOT_COVERED)
    shows_nothing_restricted(json.dumps(body))
    assert {c["toolkit"] for c in body["citations"]} <= {"Community Toolkit"}
    events = read_events(post(owner_client, {"query": QUESTION}, STREAM_URL))
    shows_nothing_restricted(json.dumps(events))  # the streamed answer and its HTML too


def test_an_insider_gets_the_answer_from_it(client, insider, kits):
    body = post(client_for(client, insider), {"query": QUESTION}).json()
    assert body["answered"] is True and "fortnight" in body["answer"]
    assert body["citations"][0]["toolkit"] == "Beekeeping Toolkit"


def test_the_chooser_and_examples_leave_it_out_and_its_id_reads_like_an_unknown_one(owner_client, kits):
    community, bees = kits
    page = owner_client.get("/toolkit").content.decode()
    shows_nothing_restricted(page)  # with one toolkit left to ask, there is no chooser at all
    response = post(owner_client, {"query": QUESTION, "toolkits": [bees.toolkit_id]})
    unknown = post(owner_client, {"query": QUESTION, "toolkits": [10**6]})
    assert response.status_code == unknown.status_code == 400
    assert response.json()["error"] == unknown.json()["error"].replace(str(10**6), str(bees.toolkit_id))


def test_the_chooser_lists_it_for_insiders(client, insider, kits):
    page = client_for(client, insider).get("/toolkit").content.decode()
    assert "Beekeeping Toolkit" in page and "Community Toolkit" in page


def test_its_source_pages_are_a_404_for_outsiders(owner_client, client, insider, kits):
    _, bees = kits
    for chunk in Chunk.objects.filter(document=bees):
        response = owner_client.get(f"/toolkit/source/{chunk.pk}")
        assert response.status_code == 404
        shows_nothing_restricted(response.content.decode())
    chunk = Chunk.objects.filter(document=bees).first()
    assert "fortnight" in client_for(client, insider).get(f"/toolkit/source/{chunk.pk}").content.decode()


def test_citations_made_before_losing_access_say_so_without_the_text(client, insider, kits):
    client_for(client, insider)
    body = post(client, {"query": QUESTION}).json()
    conversation_id = body["conversation_id"]
    insider.groups.clear()  # moved out of the group
    page = client.get(f"/toolkit/c/{conversation_id}").content.decode()
    assert "This section is no longer available to you." in page
    assert "Beekeeping Toolkit" not in page and 'href="/toolkit/source/' not in page
    api = client.get(f"/api/rag/conversations/{conversation_id}").json()
    (citation,) = api["messages"][0]["citations"][:1]
    assert citation == {
        "n": 1,
        "chunk_id": None,
        "unavailable": "This section is no longer available to you.",
    }
    assert "Beekeeping" not in json.dumps(api["messages"][0]["citations"])
    assert viewer_of(insider).group_ids == ()


def test_citations_whose_section_is_gone_since_are_hidden_by_the_toolkit_they_name(client, insider, kits):
    """Re-ingesting a version replaces its chunks: a stored citation of the restricted toolkit then
    names no existing chunk, and must still not show its toolkit, heading or text to an outsider."""
    client_for(client, insider)
    conversation_id = post(client, {"query": QUESTION}).json()["conversation_id"]
    Chunk.objects.filter(document__toolkit__name="Beekeeping Toolkit").delete()
    insider.groups.clear()
    page = client.get(f"/toolkit/c/{conversation_id}").content.decode()
    assert "This section is no longer available to you." in page and "Beekeeping Toolkit" not in page
    api = client.get(f"/api/rag/conversations/{conversation_id}").json()
    assert "Beekeeping" not in json.dumps(api["messages"][0]["citations"])
