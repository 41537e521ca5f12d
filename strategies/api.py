"""JSON API for plans: /api/plans/ and /api/plans/<id>/ (+ items). Session auth, CSRF, errors as {"error"};
auth, methods and body checks live in `toolkitrag.api.json_api`, lookups in `strategies.selectors`."""

from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404

from rag.models import Message
from strategies import plans
from strategies.citations import citation_states
from strategies.forms import (
    AnswerItemRequest,
    ItemForm,
    ItemOrderRequest,
    ItemRequest,
    NewItemRequest,
    PlanForm,
    PlanRequest,
    checked_instance,
)
from strategies.models import PlanItem, StrategyPlan
from strategies.selectors import owned_item, owned_plan, search_plans
from strategies.views import duplicate_rate_limit
from toolkit.access import Viewer, viewer_of, visible_chunks
from toolkit.models import Chunk, ToolkitVersion
from toolkitrag.api import BadRequest, json_api, json_body


def item_dicts(items: list[PlanItem], viewer: Viewer) -> list[dict]:
    """Items with their citations and whether each cited section changed in the active version
    (or is no longer available to the viewer)."""
    states = citation_states([citation for item in items for citation in item.citations.all()], viewer)
    return [item.to_dict(states) for item in items]


def plan_items(plan: StrategyPlan) -> list[dict]:
    return item_dicts(list(plan.items.prefetch_related("citations")), viewer_of(plan.owner))


def cited_chunks(chunk_ids: list[int], viewer: Viewer) -> list[Chunk]:
    """Chunks of published versions named by 'chunk_ids' that the viewer may read; a section of
    a toolkit they may not see reads like one that does not exist."""
    found = (
        visible_chunks(viewer)
        .select_related("document__toolkit")
        .filter(document__status=ToolkitVersion.Status.READY)
    )
    chunks = found.in_bulk(chunk_ids)
    missing = [str(i) for i in chunk_ids if i not in chunks]
    if missing:
        raise BadRequest(f"No toolkit section with id(s): {', '.join(missing)}.")
    return [chunks[i] for i in dict.fromkeys(chunk_ids)]


@json_api(["GET", "POST"])
def plan_collection(request: HttpRequest) -> JsonResponse:
    if request.method == "GET":
        status, query = request.GET.get("status", ""), request.GET.get("q", "")
        found = search_plans(user=request.user, status=status, query=query)
        return JsonResponse({"plans": [plan.to_dict() for plan in found[:500]]})
    plan = checked_instance(PlanForm, PlanRequest.from_request(request))
    plan.owner = request.user
    plans.create_plan(plan)  # PlanLimitReached is a BadRequest
    return JsonResponse(plan.to_dict(items=[]), status=201)


@json_api(["GET", "PATCH", "PUT", "DELETE"])
def plan_detail(request: HttpRequest, plan_id: int) -> JsonResponse:
    plan = owned_plan(user=request.user, plan_id=plan_id)
    if request.method == "DELETE":
        plan.delete()
        return JsonResponse({"deleted": plan_id})
    if request.method in ("PATCH", "PUT"):
        plan = checked_instance(PlanForm, PlanRequest.from_request(request), instance=plan)
        plan.save()
    return JsonResponse(plan.to_dict(items=plan_items(plan)))


@json_api(["POST"])
@duplicate_rate_limit
def plan_duplicate(request: HttpRequest, plan_id: int) -> JsonResponse:
    copy = plans.duplicate_plan(owned_plan(user=request.user, plan_id=plan_id))  # PlanLimitReached: 400
    return JsonResponse(copy.to_dict(items=plan_items(copy)), status=201)


@json_api(["GET", "POST"])
def item_collection(request: HttpRequest, plan_id: int) -> JsonResponse:
    """List items, or add one: fields of an item, optionally 'chunk_ids' to cite, or 'message_id'
    to add a chat answer with its citations (its text is the default)."""
    plan = owned_plan(user=request.user, plan_id=plan_id)
    if request.method == "GET":
        return JsonResponse({"items": plan_items(plan)})
    body = json_body(request)
    if isinstance(body, dict) and "message_id" in body:
        fields = AnswerItemRequest.parse(body)
        message = get_object_or_404(Message, pk=fields.message_id, user=request.user)
        item = checked_instance(ItemForm, fields, PlanItem(kind=PlanItem.Kind.NOTE, text=message.answer))
        item = plans.add_answer(plan, message, item.kind, item.text)
    else:
        fields = NewItemRequest.parse(body)
        chunks = cited_chunks(fields.chunk_ids, viewer_of(request.user))
        item = plans.add_item(plan, checked_instance(ItemForm, fields), chunks)
    added = PlanItem.objects.prefetch_related("citations").get(pk=item.pk)
    return JsonResponse(item_dicts([added], viewer_of(request.user))[0], status=201)


@json_api(["GET", "PATCH", "PUT", "DELETE"])
def item_detail(request: HttpRequest, plan_id: int, item_id: int) -> JsonResponse:
    item = owned_item(user=request.user, plan_id=plan_id, item_id=item_id)
    if request.method == "DELETE":
        plans.delete_item(item)
        return JsonResponse({"deleted": item_id})
    if request.method in ("PATCH", "PUT"):
        item = checked_instance(ItemForm, ItemRequest.from_request(request), instance=item)
        item.save()
        item.plan.save(update_fields=["updated_at"])
    return JsonResponse(item_dicts([item], viewer_of(request.user))[0])


@json_api(["POST", "PUT"])
def item_order(request: HttpRequest, plan_id: int) -> JsonResponse:
    """Reorder: {"item_ids": [...]} listing every item of the plan once, in the new order."""
    plan = owned_plan(user=request.user, plan_id=plan_id)
    item_ids = ItemOrderRequest.from_request(request).item_ids
    try:
        plans.reorder_items(plan, item_ids)
    except ValueError as error:  # a list that is not exactly the plan's items
        raise BadRequest(str(error)) from None
    return JsonResponse({"items": plan_items(plan)})
