"""Reading strategy plans back in tests."""

from strategies.models import StrategyPlan


def item_texts(plan: StrategyPlan) -> list[str]:
    """The plan's item texts in their order."""
    return list(plan.items.values_list("text", flat=True))
