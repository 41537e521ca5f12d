"""The first user's data that the access sweeps try to reach as someone else."""

import pytest
from django.contrib.contenttypes.models import ContentType

from rag.models import Conversation, Feedback, Message
from strategies.models import PlanItem, StrategyPlan
from toolkit.models import Chunk
from toolkitrag.testing.toolkits import answered, ingest_toolkit, restrict_toolkit

# A toolkit only the group "insiders" (the first user among them) may read; "Zanzibar" is in its
# name, heading and text, and nowhere else. RESTRICTED_QUESTION is answered from it alone.
RESTRICTED = [
    ("h1", "1 Zanzibar hives"),
    ("p", "The Zanzibar hives are inspected every fortnight by the apiarist."),
]
RESTRICTED_QUESTION = "When does the apiarist inspect the hives?"


@pytest.fixture
def first_users_data(owner):
    document = ingest_toolkit()
    restricted = ingest_toolkit(RESTRICTED, name="Zanzibar Toolkit")
    owner.groups.set(restrict_toolkit(restricted, "insiders"))
    message = answered(owner, "How often is the budget reviewed? owner-secret-question")
    Conversation.objects.filter(pk=message.conversation_id).update(title="owner-secret-conversation")
    feedback = Feedback.objects.create(message=message, user=owner, rating=-1, comment="owner-secret-comment")
    plan = StrategyPlan.objects.create(owner=owner, title="owner-secret-plan", summary="owner-secret-summary")
    item = PlanItem.objects.create(plan=plan, position=1, kind="goal", text="owner-secret-item")
    url_values = {  # what the URL sweeps put in each URL parameter: the first user's objects
        "conversation_id": message.conversation_id,
        "message_id": message.pk,
        "feedback_id": feedback.pk,
        "plan_id": plan.pk,
        "item_id": item.pk,
        "chunk_id": Chunk.objects.filter(document=document).first().pk,
        "extension": "md",
        "object_id": message.pk,  # admin change/delete/history pages
        "id": owner.pk,  # the admin's password change page
        "content_type_id": ContentType.objects.get_for_model(Message).pk,
        "app_label": "rag",
        "url": "no-such-page/",  # the admin's catch-all
    }
    restricted_chunk_id = Chunk.objects.get(document=restricted).pk
    return {"document": document, "message": message, "feedback": feedback, "plan": plan, "item": item,
            "url_values": url_values, "restricted_chunk_id": restricted_chunk_id}  # fmt: skip
