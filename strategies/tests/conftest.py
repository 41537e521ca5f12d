import pytest

from rag.models import Message
from rag.questions import ask
from rag.tests.conftest import ingest_toolkit
from strategies import plans
from strategies.models import PlanItem, StrategyPlan


def answered(user, question: str = "How often is the budget reviewed?") -> Message:
    """Ask through the real answer path (extractive: no model configured) and return the record."""
    final = [event.data for event in ask(user, question, 5) if event.name == "final"][0]
    return Message.objects.get(pk=final["message_id"])


@pytest.fixture
def answer_message(owner):
    ingest_toolkit()
    message = answered(owner)
    assert message.answered and message.citations
    return message


@pytest.fixture
def plan(owner):
    """The owner's plan: a goal, an action and a note, in that order."""
    plan = StrategyPlan.objects.create(
        owner=owner, title="Flood readiness 2027", summary="Be ready before winter."
    )
    plans.add_item(plan, PlanItem(kind="goal", text="Every street has a flood warden"))
    plans.add_item(
        plan, PlanItem(kind="action", text="Recruit wardens", owner_name="Sam", due_date="2027-01-15")
    )
    plans.add_item(plan, PlanItem(kind="note", text="Ask the parish council about funding"))
    return plan


def item_texts(plan: StrategyPlan) -> list[str]:
    return list(plan.items.values_list("text", flat=True))
