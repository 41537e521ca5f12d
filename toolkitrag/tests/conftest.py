"""The first user's data that the access sweeps try to reach as someone else."""

import pytest

from rag.models import Conversation, Feedback
from strategies.models import PlanItem, StrategyPlan
from strategies.tests.conftest import answered


@pytest.fixture
def first_users_data(owner):
    from rag.tests.conftest import ingest_toolkit

    document = ingest_toolkit()
    message = answered(owner, "How often is the budget reviewed? owner-secret-question")
    Conversation.objects.filter(pk=message.conversation_id).update(title="owner-secret-conversation")
    feedback = Feedback.objects.create(message=message, user=owner, rating=-1, comment="owner-secret-comment")
    plan = StrategyPlan.objects.create(owner=owner, title="owner-secret-plan", summary="owner-secret-summary")
    item = PlanItem.objects.create(plan=plan, position=1, kind="goal", text="owner-secret-item")
    return {"document": document, "message": message, "feedback": feedback, "plan": plan, "item": item}
