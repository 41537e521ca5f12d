"""Plan lookups, always by owner: another user's plan or item id is a 404, and lists only ever hold the
user's own plans. Every page, API call and export goes through these."""

from django.db.models import Count, Q, QuerySet
from django.shortcuts import get_object_or_404

from strategies.models import PlanItem, StrategyPlan

MAX_SEARCH_WORDS = 10
MAX_SEARCH_CHARS = 200  # the page and the API search the same words


def owned_plan(*, user, plan_id: int) -> StrategyPlan:
    return get_object_or_404(StrategyPlan, pk=plan_id, owner=user)


def owned_item(*, user, plan_id: int, item_id: int) -> PlanItem:
    return get_object_or_404(
        PlanItem.objects.select_related("plan"), pk=item_id, plan_id=plan_id, plan__owner=user
    )


def search_plans(*, user, status: str = "", query: str = "") -> QuerySet[StrategyPlan]:
    """The user's plans, optionally of one status and matching words in the title, summary or items."""
    found = StrategyPlan.objects.filter(owner=user)
    if status in StrategyPlan.Status.values:
        found = found.filter(status=status)
    for word in query[:MAX_SEARCH_CHARS].split()[:MAX_SEARCH_WORDS]:
        matching_items = PlanItem.objects.filter(text__icontains=word).values("plan_id")
        found = found.filter(Q(title__icontains=word) | Q(summary__icontains=word) | Q(pk__in=matching_items))
    return found.annotate(item_count=Count("items")).order_by("-updated_at", "-pk")
