import pytest

from strategies import plans
from strategies.models import PlanItem, StrategyPlan
from toolkitrag.testing.toolkits import answered, ingest_toolkit


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
