"""The first user's data that the access sweeps try to reach as someone else."""

import pytest
from django.contrib.contenttypes.models import ContentType
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.api_tokens import issue_token
from rag import golden
from rag.models import Conversation, Feedback, GoldenQuestion, Message
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
    token, token_plaintext = issue_token(owner, "owner-secret-token")
    # Staff-only data (golden questions, their runs): only the admin's URLs reach it.
    GoldenQuestion.objects.create(toolkit=document.toolkit, question="How often is the budget reviewed?")
    golden_run = golden.run_version(document, "sweep")
    url_values = {  # what the URL sweeps put in each URL parameter: the first user's objects
        "conversation_id": message.conversation_id,
        "message_id": message.pk,
        "feedback_id": feedback.pk,
        "plan_id": plan.pk,
        "item_id": item.pk,
        "token_id": token.pk,
        "chunk_id": Chunk.objects.filter(document=document).first().pk,
        "version_id": document.pk,
        "run_id": golden_run.pk,
        "extension": "md",
        "object_id": message.pk,  # admin change/delete/history pages
        "id": owner.pk,  # the admin's password change page
        "content_type_id": ContentType.objects.get_for_model(Message).pk,
        "app_label": "rag",
        "url": "no-such-page/",  # the admin's catch-all
        "token": "not-a-valid-token",  # sign-up, invitation and password reset links
        "uidb64": urlsafe_base64_encode(force_bytes(owner.pk)),
    }
    restricted_chunk_id = Chunk.objects.get(document=restricted).pk
    return {"document": document, "message": message, "feedback": feedback, "plan": plan, "item": item,
            "token": token, "token_plaintext": token_plaintext, "url_values": url_values,
            "restricted_chunk_id": restricted_chunk_id}  # fmt: skip
