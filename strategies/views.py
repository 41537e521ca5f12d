"""Plan pages. Every lookup goes through `strategies.selectors`: another user's ids are a 404."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_http_methods, require_POST

from accounts.rate_limits import by_user_or_ip, per_minute, rate_limit
from rag.models import Message
from rag.rendering import for_viewer
from strategies import export, plans
from strategies.citations import citation_states
from strategies.forms import AddAnswerForm, ItemForm, PlanForm, PlanSearchForm
from strategies.models import PlanItem, StrategyPlan
from strategies.selectors import owned_item, owned_plan, search_plans
from toolkit.access import viewer_of
from toolkit.text_html import text_to_html

# Exports and duplicates read a whole plan: limited per user, shared by the pages and the API.
export_rate_limit = rate_limit(
    "plan-export", per_minute("RATE_LIMIT_PLAN_EXPORTS"), by_user_or_ip, methods=("GET", "HEAD")
)
duplicate_rate_limit = rate_limit("plan-duplicate", per_minute("RATE_LIMIT_PLAN_DUPLICATES"), by_user_or_ip)


@login_required
def plan_list(request: HttpRequest) -> HttpResponse:
    search = PlanSearchForm(request.GET)
    if search.is_valid():
        status, query = search.cleaned_data["status"], search.cleaned_data["q"]
        found = search_plans(user=request.user, status=status, query=query)
    else:  # e.g. a NUL in ?q= (PostgreSQL cannot compare it): a 400 saying so, above every plan
        for errors in search.errors.values():
            messages.error(request, f"Search: {errors[0]}")
        status, query = "", ""
        found = search_plans(user=request.user)
    page = Paginator(found, 50).get_page(request.GET.get("page"))
    counts = dict(
        StrategyPlan.objects.filter(owner=request.user)
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    filters = [("", "All", sum(counts.values()))] + [
        (value, label, counts.get(value, 0)) for value, label in StrategyPlan.Status.choices
    ]
    context = {"page": page, "status": status, "query": query, "filters": filters}
    return render(request, "strategies/plan_list.html", context, status=200 if search.is_valid() else 400)


@login_required
@require_http_methods(["GET", "POST"])
def plan_create(request: HttpRequest) -> HttpResponse:
    form = PlanForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        form.instance.owner = request.user
        try:
            plan = plans.create_plan(form.instance)
        except plans.PlanLimitReached as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, "Plan created. Add goals, actions and notes below.")
            return redirect(plan_url(plan))
    return render(request, "strategies/plan_form.html", {"form": form})


def plan_url(plan: StrategyPlan, item: PlanItem | None = None) -> str:
    url = reverse("strategy-detail", args=[plan.pk])
    return f"{url}#item-{item.pk}" if item else url


@login_required
def plan_detail(request: HttpRequest, plan_id: int) -> HttpResponse:
    plan = owned_plan(user=request.user, plan_id=plan_id)
    items = list(plan.items.prefetch_related("citations"))
    states = citation_states([c for item in items for c in item.citations.all()], viewer_of(request.user))
    for item in items:
        item.cited = [(c, states[c.pk]) for c in item.citations.all()]
        item.html = text_to_html(item.text)  # an answer's lists and tables, as the chat shows them
    moved = request.GET.get("moved", "")
    context = {
        "plan": plan,
        "items": items,
        "item_form": ItemForm(),
        "moved": int(moved) if moved.isdigit() else None,
        "moved_direction": request.GET.get("direction", ""),
    }
    return render(request, "strategies/plan_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def plan_edit(request: HttpRequest, plan_id: int) -> HttpResponse:
    plan = owned_plan(user=request.user, plan_id=plan_id)
    form = PlanForm(request.POST or None, instance=plan)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Plan saved.")
        return redirect(plan_url(plan))
    return render(request, "strategies/plan_form.html", {"form": form, "plan": plan})


@login_required
@require_http_methods(["GET", "POST"])
def plan_delete(request: HttpRequest, plan_id: int) -> HttpResponse:
    plan = owned_plan(user=request.user, plan_id=plan_id)
    if request.method == "POST":
        plan.delete()
        messages.success(request, f"Deleted the plan “{plan.title}”.")
        return redirect("strategy-list")
    return render(
        request, "strategies/confirm_delete.html", {"plan": plan, "what": f"the plan “{plan.title}”"}
    )


@login_required
@require_POST
@duplicate_rate_limit
def plan_duplicate(request: HttpRequest, plan_id: int) -> HttpResponse:
    plan = owned_plan(user=request.user, plan_id=plan_id)
    try:
        copy = plans.duplicate_plan(plan)
    except plans.PlanLimitReached as error:
        messages.error(request, str(error))
        return redirect(plan_url(plan))
    messages.success(request, "Plan duplicated: this is the copy.")
    return redirect(plan_url(copy))


@login_required
@export_rate_limit
def plan_export(request: HttpRequest, plan_id: int, extension: str) -> HttpResponse:
    plan = owned_plan(user=request.user, plan_id=plan_id)
    if extension == "docx":
        body = export.to_docx(plan)
        content_type = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    elif extension == "md":
        body = export.to_markdown(plan).encode()
        content_type = "text/markdown; charset=utf-8"
    else:
        raise Http404("No such export format.")
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(True, export.filename(plan, extension))
    return response


@login_required
@require_http_methods(["GET", "POST"])
def item_create(request: HttpRequest, plan_id: int) -> HttpResponse:
    plan = owned_plan(user=request.user, plan_id=plan_id)
    form = ItemForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            item = plans.add_item(plan, form.save(commit=False))
        except plans.PlanLimitReached as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"{item.get_kind_display()} added.")
            return redirect(plan_url(plan, item))
    return render(request, "strategies/item_form.html", {"form": form, "plan": plan})


@login_required
@require_http_methods(["GET", "POST"])
def item_edit(request: HttpRequest, plan_id: int, item_id: int) -> HttpResponse:
    item = owned_item(user=request.user, plan_id=plan_id, item_id=item_id)
    form = ItemForm(request.POST or None, instance=item)
    if request.method == "POST" and form.is_valid():
        form.save()
        item.plan.save(update_fields=["updated_at"])
        messages.success(request, f"{item.get_kind_display()} saved.")
        return redirect(plan_url(item.plan, item))
    return render(request, "strategies/item_form.html", {"form": form, "plan": item.plan, "item": item})


@login_required
@require_http_methods(["GET", "POST"])
def item_delete(request: HttpRequest, plan_id: int, item_id: int) -> HttpResponse:
    item = owned_item(user=request.user, plan_id=plan_id, item_id=item_id)
    if request.method == "POST":
        plans.delete_item(item)
        messages.success(request, f"{item.get_kind_display()} deleted.")
        return redirect(plan_url(item.plan))
    what = f"this {item.get_kind_display().lower()} from “{item.plan.title}”"
    return render(request, "strategies/confirm_delete.html", {"plan": item.plan, "item": item, "what": what})


@login_required
@require_POST
def item_move(request: HttpRequest, plan_id: int, item_id: int) -> HttpResponse:
    item = owned_item(user=request.user, plan_id=plan_id, item_id=item_id)
    direction = request.POST.get("direction", "")
    if direction not in plans.MOVES:
        messages.error(request, "Unknown move.")
        return redirect(plan_url(item.plan, item))
    plans.move_item(item, direction)
    # Back on the page, the same button of the moved item gets the focus (and scrolls into view), so
    # keyboard users can go on. No #fragment: browsers skip autofocus when the URL has one.
    url = reverse("strategy-detail", args=[plan_id])
    return redirect(f"{url}?moved={item.pk}&direction={direction}")


@login_required
@require_http_methods(["GET", "POST"])
def add_answer(request: HttpRequest, message_id: int) -> HttpResponse:
    """ "Add to plan" from a chat answer: pick a plan or name a new one; the citations come along."""
    message = get_object_or_404(Message, pk=message_id, user=request.user)
    chosen = request.POST.get("plan", "")
    if chosen.isdigit():
        owned_plan(user=request.user, plan_id=int(chosen))  # someone else's plan id: 404, as everywhere else
    form = AddAnswerForm(request.POST or None, user=request.user, initial={"text": message.answer})
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():  # a new plan is kept only if the answer went into it
                plan = form.cleaned_data["plan"] or plans.create_plan(
                    StrategyPlan(owner=request.user, title=form.cleaned_data["new_plan_title"].strip())
                )
                item = plans.add_answer(plan, message, form.cleaned_data["kind"], form.cleaned_data["text"])
        except plans.PlanLimitReached as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"Added to “{plan.title}” with {len(message.citations)} source(s).")
            return redirect(plan_url(plan, item))
    # Shown as the reader may see them now; sections they lost access to are left out of the plan.
    (citations,) = for_viewer([message.citations], viewer_of(request.user))
    context = {"form": form, "message": message, "citations": citations}
    return render(request, "strategies/add_answer.html", context)
