"""Changes to plans that touch more than one row: adding, moving and removing items, duplicating."""

from django.db import transaction
from django.db.models import Max

from rag.models import Message
from strategies.citations import citations_from_answer, citations_from_chunks
from strategies.models import ItemCitation, PlanItem, StrategyPlan
from toolkit.models import Chunk

MOVES = ("up", "down", "first", "last")


def _locked(plan: StrategyPlan) -> StrategyPlan:
    """Lock the plan row so concurrent moves and additions number items one after another."""
    return StrategyPlan.objects.select_for_update().get(pk=plan.pk)


def _touch(plan: StrategyPlan) -> None:
    plan.save(update_fields=["updated_at"])


def _renumber(plan: StrategyPlan, items: list[PlanItem]) -> None:
    for position, item in enumerate(items):
        item.position = position
    PlanItem.objects.bulk_update(items, ["position"])


@transaction.atomic
def add_item(plan: StrategyPlan, item: PlanItem, chunks: list[Chunk] = ()) -> PlanItem:
    """Append an unsaved item (and citations of the given chunks) at the end of the plan."""
    plan = _locked(plan)
    last = plan.items.aggregate(last=Max("position"))["last"]
    item.plan = plan
    item.position = 0 if last is None else last + 1
    item.save()
    ItemCitation.objects.bulk_create(citations_from_chunks(item, list(chunks)))
    _touch(plan)
    return item


@transaction.atomic
def add_answer(plan: StrategyPlan, message: Message, kind: str, text: str) -> PlanItem:
    """Append a chat answer as an item, its citations copied as the answer showed them."""
    item = add_item(plan, PlanItem(kind=kind, text=text, source_message=message))
    ItemCitation.objects.bulk_create(citations_from_answer(item, message.citations))
    return item


@transaction.atomic
def move_item(item: PlanItem, direction: str) -> None:
    if direction not in MOVES:
        raise ValueError(f"Unknown move: {direction}")
    plan = _locked(item.plan)
    items = list(plan.items.all())
    index = next(i for i, other in enumerate(items) if other.pk == item.pk)
    items.pop(index)
    target = {"up": max(index - 1, 0), "down": index + 1, "first": 0, "last": len(items)}[direction]
    items.insert(target, item)
    _renumber(plan, items)
    _touch(plan)


@transaction.atomic
def reorder_items(plan: StrategyPlan, item_ids: list[int]) -> None:
    """Put the items in the given order; the ids must be exactly the plan's items."""
    plan = _locked(plan)
    items = plan.items.in_bulk()
    if len(item_ids) != len(set(item_ids)) or set(item_ids) != set(items):
        raise ValueError("'item_ids' must list each of the plan's items exactly once.")
    _renumber(plan, [items[pk] for pk in item_ids])
    _touch(plan)


@transaction.atomic
def delete_item(item: PlanItem) -> None:
    plan = _locked(item.plan)
    item.delete()
    _renumber(plan, list(plan.items.all()))
    _touch(plan)


@transaction.atomic
def duplicate_plan(plan: StrategyPlan) -> StrategyPlan:
    """A draft copy with the same items and citations (citations keep their original snapshot)."""
    copy = StrategyPlan.objects.create(
        owner=plan.owner,
        title=f"Copy of {plan.title}"[:200],
        summary=plan.summary,
        status=StrategyPlan.Status.DRAFT,
    )
    for item in plan.items.prefetch_related("citations"):
        citations = list(item.citations.all())
        item.pk, item.plan = None, copy
        item._state.adding = True
        item.save()
        for citation in citations:
            citation.pk, citation.item = None, item
            citation._state.adding = True
        ItemCitation.objects.bulk_create(citations)
    return copy
