"""Plans and a toolkit restricted to a group: a section of it cannot be cited by someone outside
the group (it reads like one that does not exist), and a plan that cited it before its owner lost
access keeps its snapshot text while its links stop working and say so, in the page, the JSON and
both exports."""

import io
import json

import docx
import pytest
from django.contrib.auth.models import Group

from strategies.citations import NO_ACCESS
from strategies.models import StrategyPlan
from toolkit.models import Chunk
from toolkitrag.testing.toolkits import ingest_toolkit, restrict_toolkit

pytestmark = pytest.mark.django_db

HIVES = [("h1", "1 Hives"), ("p", "The hives are inspected every fortnight by the apiarist.")]


@pytest.fixture
def hives(db):
    version = ingest_toolkit(HIVES, name="Beekeeping Toolkit")
    restrict_toolkit(version, "beekeepers")
    return Chunk.objects.get(document=version)


def add_item(client, plan, chunk_ids):
    body = json.dumps({"kind": "note", "text": "From the hive notes [1]", "chunk_ids": chunk_ids})
    return client.post(f"/api/plans/{plan.pk}/items/", data=body, content_type="application/json")


def test_an_outsider_cannot_cite_a_restricted_section(owner_client, owner, hives):
    plan = StrategyPlan.objects.create(owner=owner, title="Bees")
    response = add_item(owner_client, plan, [hives.pk])
    assert response.status_code == 400
    assert response.json() == {"error": f"No toolkit section with id(s): {hives.pk}."}
    assert not plan.items.exists()


def test_a_plan_keeps_its_snapshot_but_its_links_stop_working_once_access_is_lost(owner_client, owner, hives):
    owner.groups.add(Group.objects.get(name="beekeepers"))
    plan = StrategyPlan.objects.create(owner=owner, title="Bees")
    assert add_item(owner_client, plan, [hives.pk]).status_code == 201
    page = owner_client.get(f"/strategies/{plan.pk}").content.decode()
    assert f'href="/toolkit/source/{hives.pk}#passage"' in page and NO_ACCESS not in page

    owner.groups.clear()
    page = owner_client.get(f"/strategies/{plan.pk}").content.decode()
    assert "fortnight" in page and NO_ACCESS in page  # the snapshot stays, and says why there is no link
    assert f"/toolkit/source/{hives.pk}" not in page
    assert owner_client.get(f"/toolkit/source/{hives.pk}").status_code == 404
    (citation,) = owner_client.get(f"/api/plans/{plan.pk}/").json()["items"][0]["citations"]
    assert (
        citation["chunk_id"] is None and citation["state"] == "no_access" and citation["message"] == NO_ACCESS
    )
    exported = owner_client.get(f"/strategies/{plan.pk}/export.docx").content
    text = "\n".join(p.text for p in docx.Document(io.BytesIO(exported)).paragraphs)
    assert "fortnight" in text and NO_ACCESS in text
    assert NO_ACCESS in owner_client.get(f"/strategies/{plan.pk}/export.md").content.decode()


def test_adding_an_answer_after_losing_access_leaves_its_restricted_sources_out(owner_client, owner, hives):
    from toolkitrag.testing.toolkits import answered

    owner.groups.add(Group.objects.get(name="beekeepers"))
    message = answered(owner, "When does the apiarist inspect the hives?")
    assert message.answered and message.citations[0]["chunk_id"] == hives.pk
    owner.groups.clear()
    page = owner_client.get(f"/strategies/add-answer/{message.pk}").content.decode()
    assert "This section is no longer available to you." in page and "Beekeeping Toolkit" not in page
    plan = StrategyPlan.objects.create(owner=owner, title="Bees")
    response = owner_client.post(
        f"/strategies/add-answer/{message.pk}", {"plan": plan.pk, "kind": "note", "text": "x"}
    )
    assert response.status_code == 302
    assert not plan.items.get().citations.exists()
