"""Questions can be asked of chosen toolkits: `toolkits` in the answer APIs scopes retrieval to
their active versions, bad lists get a 400 saying why, and the chat page offers the choice only
when there is one to make."""

import re

import pytest

from rag.answering import NOT_COVERED
from rag.models import Message
from rag.tests.test_api import STREAM_URL, URL, post, read_events
from toolkit.models import Toolkit
from toolkitrag.testing.toolkits import ingest_toolkit

pytestmark = pytest.mark.django_db

BEES = [
    ("h1", "1 Hives"),
    (
        "p",
        "The hives are inspected every fortnight by the apiarist. "
        "Each inspection is written in the hive log with the date and the queen's state.",
    ),
    ("h1", "2 Honey"),
    ("p", "Honey is harvested in late summer once the frames are capped."),
]
BEE_QUESTION = "When does the apiarist inspect the hives?"  # every word is in toolkit B, none in A


@pytest.fixture
def two_toolkits(db):
    """Community Toolkit (A) knows nothing of bees; Beekeeping Toolkit (B) does."""
    return ingest_toolkit(), ingest_toolkit(BEES, name="Beekeeping Toolkit")


def test_a_question_only_toolkit_b_answers_is_not_answered_from_toolkit_a(owner_client, two_toolkits):
    community, bees = two_toolkits
    body = post(owner_client, {"query": BEE_QUESTION, "toolkits": [community.toolkit_id]}).json()
    assert {c["toolkit"] for c in body["citations"]} <= {"Community Toolkit"}
    assert "apiarist" not in body["answer"] and "fortnight" not in body["answer"]
    assert body["answered"] is False and body["answer"] == NOT_COVERED
    assert Message.objects.get(pk=body["message_id"]).document_ids == [community.pk]

    body = post(owner_client, {"query": BEE_QUESTION, "toolkits": [bees.toolkit_id]}).json()
    assert body["answered"] is True and "fortnight" in body["answer"]
    assert body["citations"] and {c["toolkit"] for c in body["citations"]} == {"Beekeeping Toolkit"}
    assert Message.objects.get(pk=body["message_id"]).document_ids == [bees.pk]


def test_without_toolkits_every_toolkit_answers(owner_client, two_toolkits):
    community, bees = two_toolkits
    body = post(owner_client, {"query": BEE_QUESTION}).json()
    assert {c["toolkit"] for c in body["citations"]} == {"Beekeeping Toolkit"}
    assert sorted(Message.objects.get(pk=body["message_id"]).document_ids) == sorted([community.pk, bees.pk])


def test_the_streamed_answer_is_scoped_the_same_way(owner_client, two_toolkits):
    community, bees = two_toolkits
    both = [community.toolkit_id, bees.toolkit_id, bees.toolkit_id]  # a repeated id counts once
    final = dict(read_events(post(owner_client, {"query": BEE_QUESTION, "toolkits": both}, STREAM_URL)))[
        "final"
    ]
    assert {c["toolkit"] for c in final["citations"]} == {"Beekeeping Toolkit"}
    final = dict(
        read_events(
            post(owner_client, {"query": BEE_QUESTION, "toolkits": [community.toolkit_id]}, STREAM_URL)
        )
    )["final"]
    assert final["answered"] is False and final["citations"] == []


@pytest.mark.parametrize("url", [URL, STREAM_URL])
def test_bad_toolkit_lists_get_a_400_that_says_why(owner_client, two_toolkits, url):
    community, bees = two_toolkits
    no_versions = Toolkit.objects.create(name="Empty Toolkit")
    withdrawn = ingest_toolkit(BEES, name="Withdrawn Toolkit")
    withdrawn.__class__.objects.filter(pk=withdrawn.pk).update(is_active=False)
    cases = [
        ([], "'toolkits' must list at least one toolkit id (leave it out to ask every toolkit)."),
        (
            [community.toolkit_id, 999999, no_versions.pk, withdrawn.toolkit_id],
            "'toolkits' includes ids that are not toolkits with an active version: "
            f"999999, {no_versions.pk}, {withdrawn.toolkit_id}.",
        ),
        (
            [-1, 10**30],
            f"'toolkits' includes ids that are not toolkits with an active version: -1, {10**30}.",
        ),
        (list(range(1, 52)), "'toolkits' has too many entries (at most 50)."),
        ("1,2", "'toolkits' must be a list of integers."),
        ([str(community.toolkit_id)], "'toolkits' must be a list of integers."),
        ([True], "'toolkits' must be a list of integers."),
        ([1.5], "'toolkits' must be a list of integers."),
        ({"id": 1}, "'toolkits' must be a list of integers."),
    ]
    for toolkits, error in cases:
        response = post(owner_client, {"query": BEE_QUESTION, "toolkits": toolkits}, url)
        assert response.status_code == 400, toolkits
        assert response.json() == {"error": error}
    assert Message.objects.count() == 0  # nothing was asked


def test_null_toolkits_means_every_toolkit(owner_client, two_toolkits):
    body = post(owner_client, {"query": BEE_QUESTION, "toolkits": None}).json()
    assert {c["toolkit"] for c in body["citations"]} == {"Beekeeping Toolkit"}


def chooser(page: str) -> list[tuple[str, str]]:
    """The chat page's toolkit checkboxes: (id, name) of each, all ticked."""
    found = re.search(r'<fieldset class="toolkit-chooser".*?</fieldset>', page, re.S)
    if found is None:
        return []
    boxes = re.findall(
        r'<input type="checkbox" name="toolkits" value="(\d+)" checked> ([^<]+)</label>', found.group()
    )
    return [(value, name.strip()) for value, name in boxes]


def test_the_chooser_is_shown_only_when_more_than_one_toolkit_can_answer(owner_client, db):
    assert chooser(owner_client.get("/toolkit").content.decode()) == []  # no toolkit
    community = ingest_toolkit()
    Toolkit.objects.create(name="Empty Toolkit")  # no version: nothing to answer from
    page = owner_client.get("/toolkit").content.decode()
    assert chooser(page) == [] and 'id="toolkit-chooser"' not in page
    bees = ingest_toolkit(BEES, name="Beekeeping Toolkit")
    assert chooser(owner_client.get("/toolkit").content.decode()) == [
        (str(bees.toolkit_id), "Beekeeping Toolkit"),
        (str(community.toolkit_id), "Community Toolkit"),
    ]
    community.__class__.objects.filter(pk=community.pk).update(is_active=False)
    assert chooser(owner_client.get("/toolkit").content.decode()) == []  # one toolkit left
