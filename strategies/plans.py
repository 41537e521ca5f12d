"""Changes to plans that touch more than one row: adding, moving and removing items, duplicating.

The per-user caps (settings PLAN_MAX_*) are checked here, under the same row locks as the change
itself, so the pages and the JSON API share them and parallel requests cannot slip past a cap.
One user once built a plan of 200 items x 10 KB x 20 citations whose page, exports and duplicate
took 3-5 s each (issue 18); bench/plan_limits.py measures the largest plan the caps allow.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Count, Max

from rag.models import Message
from strategies.citations import citations_from_answer, citations_from_chunks
from strategies.models import ItemCitation, PlanItem, StrategyPlan
from toolkit.access import viewer_of
from toolkit.models import Chunk
from toolkitrag.api import BadRequest

MOVES = ("up", "down", "first", "last")


class PlanLimitReached(BadRequest):
    """A cap on plans was reached: a 400 with this message in the API, a form error on the pages."""


def _check_plan_count(owner_id: int) -> None:
    """Lock the owner's row (parallel creates wait their turn), then count their plans."""
    get_user_model().objects.select_for_update().filter(pk=owner_id).exists()
    limit = settings.PLAN_MAX_PLANS_PER_USER
    if StrategyPlan.objects.filter(owner_id=owner_id).count() >= limit:
        raise PlanLimitReached(
            f"You already have {limit} plans, the most one person may keep. "
            "Delete a plan you no longer need, then try again."
        )


def _check_citation_count(count: int) -> None:
    limit = settings.PLAN_MAX_CITATIONS_PER_ITEM
    if count > limit:
        raise PlanLimitReached(f"An item may cite at most {limit} toolkit sections; this one cites {count}.")


@transaction.atomic
def create_plan(plan: StrategyPlan) -> StrategyPlan:
    """Save a new plan (its owner set), unless its owner already has as many plans as allowed."""
    _check_plan_count(plan.owner_id)
    plan.save()
    return plan


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
    chunks = list(chunks)
    _check_citation_count(len(chunks))
    plan = _locked(plan)
    limit = settings.PLAN_MAX_ITEMS_PER_PLAN
    existing = plan.items.aggregate(count=Count("pk"), last=Max("position"))
    if existing["count"] >= limit:
        raise PlanLimitReached(
            f"This plan already has {limit} items, the most a plan may hold. "
            "Remove an item, or start another plan."
        )
    last = existing["last"]
    item.plan = plan
    item.position = 0 if last is None else last + 1
    item.save()
    ItemCitation.objects.bulk_create(citations_from_chunks(item, chunks))
    _touch(plan)
    return item


@transaction.atomic
def add_answer(plan: StrategyPlan, message: Message, kind: str, text: str) -> PlanItem:
    """Append a chat answer as an item, its citations copied as the answer showed them."""
    _check_citation_count(len(message.citations))
    item = add_item(plan, PlanItem(kind=kind, text=text, source_message=message))
    ItemCitation.objects.bulk_create(citations_from_answer(item, message.citations, viewer_of(plan.owner)))
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
    """A draft copy with the same items and citations (citations keep their original snapshot).

    The copy counts against the owner's cap on plans; its items are the original's, within the caps.
    """
    copy = create_plan(
        StrategyPlan(
            owner=plan.owner,
            title=f"Copy of {plan.title}"[:200],
            summary=plan.summary,
            status=StrategyPlan.Status.DRAFT,
        )
    )
    items = list(plan.items.all())
    originals = [item.pk for item in items]
    for item in items:
        item.pk, item.plan = None, copy
        item._state.adding = True
    PlanItem.objects.bulk_create(items)  # one INSERT; PostgreSQL hands back the new ids
    _copy_citations(dict(zip(originals, [item.pk for item in items], strict=True)))
    return copy


def _copy_citations(new_item_ids: dict[int, int]) -> None:
    """Copy the citations of each old item to its new item in one INSERT ... SELECT.

    Building thousands of citation objects in Python took 0.5 s for a plan at the caps (100 items x
    20 citations; bench/plan_limits.py); the database copies them in a few milliseconds.
    """
    meta, quote = ItemCitation._meta, connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in meta.concrete_fields if f.name not in ("id", "item"))
    table, item = quote(meta.db_table), quote(meta.get_field("item").column)
    # Names from the model's _meta (no input reaches them); the ids are parameters.
    sql = f"INSERT INTO {table} ({item}, {columns}) SELECT copies.new_id, {columns} FROM {table}"  # noqa: S608
    sql += f" JOIN unnest(%s::bigint[], %s::bigint[]) AS copies(old_id, new_id) ON {item} = copies.old_id"
    with connection.cursor() as cursor:
        cursor.execute(sql, [list(new_item_ids), list(new_item_ids.values())])
