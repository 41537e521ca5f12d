"""Property: whoever asks, whatever groups they are in and whichever toolkits are restricted to
which groups, no answer, citation, refusal hint, conversation, chat page, source page or plan
export ever holds text of a toolkit the asker may not see, and every toolkit they may see still
answers them.

Each toolkit carries a marker word (in its name, its heading and its text) that no other toolkit
and no question uses, so "holds text of a toolkit" is "contains its marker". Which toolkits a user
may see is worked out here from the rule itself (staff, everyone signed in, or a shared group),
not from toolkit.access. Retrieval is hybrid (embeddings from the loopback fake OpenAI server),
the answers extractive (no chat model).
"""

import io
import itertools
import json

import docx
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toolkit.models import Access, Chunk
from toolkitrag.testing.toolkits import ingest_toolkit

pytestmark = pytest.mark.django_db

KITS = {
    "aldermoor": (
        [("h1", "1 Hives of Aldermoor"),
         ("p", "The hives of Aldermoor are inspected every fortnight by the apiarist.")],
        "When does the apiarist inspect the hives?",
    ),
    "brackenfold": (
        [("h1", "1 Sandbags of Brackenfold"),
         ("p", "Brackenfold sandbags are stored behind the church; in a flood the warden hands them out.")],
        "Where are the sandbags stored for a flood?",
    ),
    "cindervale": (
        [("h1", "1 Budget of Cindervale"),
         ("p", "The Cindervale budget is reviewed every quarter by the treasurer and two trustees.")],
        "How often is the budget reviewed by the treasurer?",
    ),
}  # fmt: skip
MARKERS = list(KITS)
QUESTIONS = [question for _, question in KITS.values()] + ["hives sandbags budget treasurer flood apiarist"]
GROUPS = ["north", "south"]

access_choices = st.tuples(
    st.sampled_from([Access.SIGNED_IN, Access.GROUPS]), st.sets(st.sampled_from(GROUPS))
)
worlds = st.fixed_dictionaries(
    {
        "access": st.fixed_dictionaries({marker: access_choices for marker in MARKERS}),
        "member_of": st.sets(st.sampled_from(GROUPS)),
        "staff": st.booleans(),
        "question": st.sampled_from(QUESTIONS),
    }
)


@pytest.fixture
def world(fake_openai, settings):
    settings.CHAT_BACKEND = "none"  # extractive answers; the embeddings still come from the fake server
    kits = {
        marker: ingest_toolkit(spec, name=f"{marker.title()} Toolkit") for marker, (spec, _) in KITS.items()
    }
    groups = {name: Group.objects.create(name=name) for name in GROUPS}
    chunks = {
        marker: list(Chunk.objects.filter(document=version).values_list("pk", flat=True))
        for marker, version in kits.items()
    }
    return {"kits": kits, "groups": groups, "chunks": chunks}


def arrange(world, drawn, number: int):
    """Apply the drawn restrictions; a new user per example (plans are capped per user)."""
    for marker, (access, group_names) in drawn["access"].items():
        toolkit = world["kits"][marker].toolkit
        toolkit.access = access
        toolkit.save(update_fields=["access"])
        toolkit.groups.set([world["groups"][name] for name in group_names])
    user = get_user_model().objects.create_user(f"user{number}", f"user{number}@example.org", "x")
    user.is_staff = drawn["staff"]
    user.save()
    user.groups.set([world["groups"][name] for name in drawn["member_of"]])
    return user


def may_see(drawn, marker: str) -> bool:
    access, group_names = drawn["access"][marker]
    return drawn["staff"] or access == Access.SIGNED_IN or bool(group_names & drawn["member_of"])


def assert_hides(text: str, hidden: list[str], where: str) -> None:
    for marker in hidden:
        assert marker not in text.lower(), f"{where} shows {marker}"


def test_no_path_shows_a_toolkit_its_user_may_not_see(world):
    counter = itertools.count()

    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(drawn=worlds)
    def check(drawn):
        user = arrange(world, drawn, next(counter))
        hidden = [marker for marker in MARKERS if not may_see(drawn, marker)]
        seen = [marker for marker in MARKERS if marker not in hidden]
        client = Client()
        client.force_login(user)

        answer = client.post("/api/rag/answer", {"query": drawn["question"]}, content_type="application/json")
        assert answer.status_code == 200
        body = answer.json()
        assert_hides(json.dumps(body), hidden, "the answer")
        cited = {c["toolkit"].split()[0].lower() for c in body["citations"]}
        assert cited <= set(seen)
        own_question = [m for m, (_, q) in KITS.items() if q == drawn["question"]]
        if own_question and own_question[0] in seen:  # a toolkit they see still answers them
            assert body["answered"] and own_question[0] in body["answer"].lower()
        history = client.get(f"/api/rag/conversations/{body['conversation_id']}").content.decode()
        assert_hides(history, hidden, "the conversation")
        assert_hides(client.get("/toolkit").content.decode(), hidden, "the chat page")

        for marker, chunk_ids in world["chunks"].items():
            page = client.get(f"/toolkit/source/{chunk_ids[0]}")
            assert page.status_code == (404 if marker in hidden else 200), marker
            assert_hides(page.content.decode(), hidden, "a source page")

        plan = client.post("/api/plans/", {"title": "Plan"}, content_type="application/json").json()
        items = f"/api/plans/{plan['id']}/items/"
        for marker, chunk_ids in world["chunks"].items():
            added = client.post(items, {"kind": "note", "text": "See [1]", "chunk_ids": chunk_ids[:1]},
                                content_type="application/json")  # fmt: skip
            assert added.status_code == (400 if marker in hidden else 201), marker
        markdown = client.get(f"/strategies/{plan['id']}/export.md").content.decode()
        assert_hides(markdown, hidden, "the Markdown export")
        for marker in seen:
            assert marker in markdown.lower()
        document = docx.Document(io.BytesIO(client.get(f"/strategies/{plan['id']}/export.docx").content))
        assert_hides("\n".join(p.text for p in document.paragraphs), hidden, "the Word export")
        assert_hides(client.get(f"/api/plans/{plan['id']}/").content.decode(), hidden, "the plan's JSON")

    check()
