"""JSON API for plans: /api/plans/ and /api/plans/<id>/ (+ items). Session auth, CSRF, errors as {"error"}."""

from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_http_methods

from rag.forms import BadRequest
from rag.models import Message
from rag.views import api_login_required, bad_request, json_body
from strategies import plans
from strategies.citations import citation_states
from strategies.forms import ItemForm, PlanForm, validate_json
from strategies.models import PlanItem, StrategyPlan
from strategies.views import owned_item, owned_plan, search_plans
from toolkit.models import Chunk, Document

MAX_CHUNKS_PER_ITEM = 20


def plan_json(plan: StrategyPlan, items: list[dict] | None = None) -> dict:
    data = {
        "id": plan.pk,
        "title": plan.title,
        "summary": plan.summary,
        "status": plan.status,
        "created_at": plan.created_at,
        "updated_at": plan.updated_at,
    }
    if items is None:
        data["item_count"] = getattr(plan, "item_count", None)
    else:
        data["items"] = items
    return data


def items_json(items: list[PlanItem]) -> list[dict]:
    """Items with their citations and whether each cited section changed in the active version."""
    citations = [c for item in items for c in item.citations.all()]
    states = citation_states(citations)
    return [
        {
            "id": item.pk,
            "position": item.position,
            "kind": item.kind,
            "text": item.text,
            "owner_name": item.owner_name,
            "due_date": item.due_date,
            "status": item.status,
            "source_message_id": item.source_message_id,
            "citations": [
                {
                    "n": c.n,
                    "chunk_id": c.chunk_id,
                    "toolkit": c.toolkit_name,
                    "version_tag": c.version_tag,
                    "heading_path": c.heading_path,
                    "snippet": c.snippet,
                    "state": states[c.pk].state,
                    "active_version": states[c.pk].active_version,
                }
                for c in item.citations.all()
            ],
        }
        for item in items
    ]


def plan_items(plan: StrategyPlan) -> list[dict]:
    return items_json(list(plan.items.prefetch_related("citations")))


def _int_list(body: dict, name: str, limit: int) -> list[int]:
    values = body.get(name)
    if not isinstance(values, list) or any(isinstance(v, bool) or not isinstance(v, int) for v in values):
        raise BadRequest(f"'{name}' must be a list of integers.")
    if len(values) > limit:
        raise BadRequest(f"'{name}' has too many entries (at most {limit}).")
    return values


def cited_chunks(body: dict) -> list[Chunk]:
    """Chunks of published versions named by 'chunk_ids' (toolkit content every user may read)."""
    if "chunk_ids" not in body:
        return []
    ids = _int_list(body, "chunk_ids", MAX_CHUNKS_PER_ITEM)
    found = Chunk.objects.select_related("document__toolkit").filter(document__status=Document.Status.READY)
    chunks = found.in_bulk(ids)
    missing = [str(i) for i in ids if i not in chunks]
    if missing:
        raise BadRequest(f"No toolkit section with id(s): {', '.join(missing)}.")
    return [chunks[i] for i in dict.fromkeys(ids)]


@require_http_methods(["GET", "POST"])
@api_login_required
def plan_collection(request: HttpRequest) -> JsonResponse:
    if request.method == "GET":
        found = search_plans(request.user, request.GET.get("status", ""), request.GET.get("q", "")[:200])
        return JsonResponse({"plans": [plan_json(plan) for plan in found[:500]]})
    try:
        plan, _ = validate_json(PlanForm, json_body(request))
    except BadRequest as error:
        return bad_request(error)
    plan.owner = request.user
    plan.save()
    return JsonResponse(plan_json(plan, []), status=201)


@require_http_methods(["GET", "PATCH", "PUT", "DELETE"])
@api_login_required
def plan_detail(request: HttpRequest, plan_id: int) -> JsonResponse:
    plan = owned_plan(request, plan_id)
    if request.method == "DELETE":
        plan.delete()
        return JsonResponse({"deleted": plan_id})
    if request.method in ("PATCH", "PUT"):
        try:
            plan, _ = validate_json(PlanForm, json_body(request), instance=plan)
        except BadRequest as error:
            return bad_request(error)
        plan.save()
    return JsonResponse(plan_json(plan, plan_items(plan)))


@require_http_methods(["POST"])
@api_login_required
def plan_duplicate(request: HttpRequest, plan_id: int) -> JsonResponse:
    copy = plans.duplicate_plan(owned_plan(request, plan_id))
    return JsonResponse(plan_json(copy, plan_items(copy)), status=201)


@require_http_methods(["GET", "POST"])
@api_login_required
def item_collection(request: HttpRequest, plan_id: int) -> JsonResponse:
    """List items, or add one: fields of an item, optionally 'chunk_ids' to cite, or 'message_id'
    to add a chat answer with its citations (its text is the default)."""
    plan = owned_plan(request, plan_id)
    if request.method == "GET":
        return JsonResponse({"items": plan_items(plan)})
    try:
        body = json_body(request)
        if isinstance(body, dict) and "message_id" in body:
            message_id = body["message_id"]
            if isinstance(message_id, bool) or not isinstance(message_id, int):
                raise BadRequest("'message_id' must be an integer.")
            message = get_object_or_404(Message, pk=message_id, user=request.user)
            body = {"kind": PlanItem.Kind.NOTE, "text": message.answer, **body}
            item, _ = validate_json(ItemForm, body, extra={"message_id"})
            item = plans.add_answer(plan, message, item.kind, item.text)
        else:
            item, extra = validate_json(ItemForm, body, extra={"chunk_ids"})
            item = plans.add_item(plan, item, cited_chunks(extra))
    except BadRequest as error:
        return bad_request(error)
    return JsonResponse(
        items_json([PlanItem.objects.prefetch_related("citations").get(pk=item.pk)])[0], status=201
    )


@require_http_methods(["GET", "PATCH", "PUT", "DELETE"])
@api_login_required
def item_detail(request: HttpRequest, plan_id: int, item_id: int) -> JsonResponse:
    item = owned_item(request, plan_id, item_id)
    if request.method == "DELETE":
        plans.delete_item(item)
        return JsonResponse({"deleted": item_id})
    if request.method in ("PATCH", "PUT"):
        try:
            item, _ = validate_json(ItemForm, json_body(request), instance=item)
        except BadRequest as error:
            return bad_request(error)
        item.save()
        item.plan.save(update_fields=["updated_at"])
    return JsonResponse(items_json([item])[0])


@require_http_methods(["POST", "PUT"])
@api_login_required
def item_order(request: HttpRequest, plan_id: int) -> JsonResponse:
    """Reorder: {"item_ids": [...]} listing every item of the plan once, in the new order."""
    plan = owned_plan(request, plan_id)
    try:
        body = json_body(request)
        if not isinstance(body, dict):
            raise BadRequest("The request body must be a JSON object.")
        plans.reorder_items(plan, _int_list(body, "item_ids", 10000))
    except ValueError as error:  # BadRequest is one, and so is a list that is not the plan's items
        return bad_request(error)
    return JsonResponse({"items": plan_items(plan)})
