"""Chat logs in the admin (read-only) and the analytics pages (/admin/analytics/).

Everything here needs staff status; the analytics pages, the feedback triage and the CSV exports
also need the "Can view the analytics pages and export logs" permission (rag.view_analytics).
"""

from functools import cached_property, wraps

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_POST

from rag import analytics, csv_export
from rag.charts import stacked_bars
from rag.forms import AnalyticsFilterForm
from rag.models import Conversation, Feedback, Message

ANALYTICS_PERMISSION = "rag.view_analytics"


class CappedCountPaginator(Paginator):
    """Counts at most CAP rows: an exact COUNT(*) of a large log table on every page view is a
    full scan. Beyond the cap, search or filter to narrow the list."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list.order_by()[: self.CAP + 1].count()


class ReadOnlyLogAdmin(admin.ModelAdmin):
    """Logs are evidence: nobody edits or adds them through the admin."""

    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 50

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyLogAdmin):
    list_display = ["__str__", "user", "created_at", "updated_at"]
    list_filter = ["created_at"]
    search_fields = ["title", "user__username"]
    list_select_related = ["user"]


class HasErrorFilter(admin.SimpleListFilter):
    title = "error"
    parameter_name = "error"

    def lookups(self, request, model_admin):
        return [("yes", "With an error"), ("no", "Without")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(error="")
        if self.value() == "no":
            return queryset.filter(error="")
        return queryset


@admin.register(Message)
class MessageAdmin(ReadOnlyLogAdmin):
    list_display = ["created_at", "user", "short_query", "answered", "extractive", "backend", "total_ms"]
    list_filter = ["answered", "extractive", "backend", HasErrorFilter, "created_at"]
    search_fields = ["query", "answer", "user__username"]
    list_select_related = ["user"]
    exclude = ["retrieval"]
    readonly_fields = ["retrieval_summary"]

    @admin.display(description="question")
    def short_query(self, message: Message) -> str:
        return message.query[:100]

    @admin.display(description="retrieval")
    def retrieval_summary(self, message: Message) -> str:
        return "; ".join(
            f"chunk {hit['chunk_id']} (keyword rank {hit.get('keyword_rank') or '—'}, "
            f"vector rank {hit.get('vector_rank') or '—'})"
            for hit in message.retrieval
        )


class HandledFilter(admin.SimpleListFilter):
    title = "triage"
    parameter_name = "handled"

    def lookups(self, request, model_admin):
        return [("no", "Open"), ("yes", "Handled")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(handled_at__isnull=self.value() == "no")
        return queryset


@admin.register(Feedback)
class FeedbackAdmin(ReadOnlyLogAdmin):
    list_display = ["created_at", "rating", "short_comment", "user", "message", "handled_at"]
    list_filter = ["rating", HandledFilter, "created_at"]
    search_fields = ["comment", "message__query", "user__username"]
    list_select_related = ["user", "message"]
    actions = ["mark_handled", "mark_open"]

    @admin.display(description="comment")
    def short_comment(self, feedback: Feedback) -> str:
        return feedback.comment[:120]

    def has_triage_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(ANALYTICS_PERMISSION)

    @admin.action(description="Mark selected feedback as handled", permissions=["triage"])
    def mark_handled(self, request: HttpRequest, queryset) -> None:
        done = queryset.filter(handled_at__isnull=True).update(
            handled_at=timezone.now(), handled_by=request.user
        )
        self.message_user(request, f"{done} marked as handled.", messages.SUCCESS)

    @admin.action(description="Reopen selected feedback", permissions=["triage"])
    def mark_open(self, request: HttpRequest, queryset) -> None:
        done = queryset.update(handled_at=None, handled_by=None)
        self.message_user(request, f"{done} reopened.", messages.SUCCESS)


# --- analytics pages --------------------------------------------------------------------------


def analytics_view(view):
    """Staff (the admin's login) and the analytics permission (403 without it)."""

    @wraps(view)
    def check(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.has_perm(ANALYTICS_PERMISSION):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return admin.site.admin_view(check)


def _filters(request: HttpRequest) -> tuple[AnalyticsFilterForm, analytics.Filters]:
    form = AnalyticsFilterForm(request.GET or None)
    return form, form.filters()


def _context(request: HttpRequest, title: str, form: AnalyticsFilterForm) -> dict:
    query = request.GET.copy()
    query.pop("page", None)
    return {**admin.site.each_context(request), "title": title, "form": form, "query": query.urlencode()}


@analytics_view
def overview(request: HttpRequest) -> HttpResponse:
    form, filters = _filters(request)
    usage = analytics.usage(filters)
    feedback = analytics.feedback(filters)
    day_chart = stacked_bars(
        [f"{d['day']:%d %b}" for d in usage["days"]],
        [
            ("answered", "#2f7d4f", [d["answered"] for d in usage["days"]]),
            ("not answered", "#c0392b", [d["unanswered"] for d in usage["days"]]),
        ],
    )
    feedback_chart = stacked_bars(
        [f"week of {w['week']:%d %b}" for w in feedback["weeks"]],
        [
            ("helpful", "#2f7d4f", [w["up"] for w in feedback["weeks"]]),
            ("not helpful", "#c0392b", [w["down"] for w in feedback["weeks"]]),
        ],
        height=140,
    )
    context = {
        **_context(request, "Analytics", form),
        "filters": filters,
        "usage": usage,
        "day_chart": day_chart,
        "feedback": feedback,
        "feedback_chart": feedback_chart,
        "latency": analytics.latency(filters),
        "citations": analytics.citations(filters),
        "gaps": analytics.content_gaps(filters),
    }
    return TemplateResponse(request, "admin/rag/analytics.html", context)


@analytics_view
def versions(request: HttpRequest) -> HttpResponse:
    """Before and after each new version: a page of its own, as it reads the most rows."""
    form, filters = _filters(request)
    context = {
        **_context(request, "Before and after a new version", form),
        "filters": filters,
        "versions": analytics.versions(filters),
    }
    return TemplateResponse(request, "admin/rag/analytics_versions.html", context)


TRIAGE_STATES = {"open": Q(handled_at__isnull=True), "handled": Q(handled_at__isnull=False), "all": Q()}
TRIAGE_KINDS = {
    "attention": ~Q(comment="") | Q(rating=Feedback.Rating.DOWN),
    "down": Q(rating=Feedback.Rating.DOWN),
    "up": Q(rating=Feedback.Rating.UP),
    "all": Q(),
}


@analytics_view
def feedback_triage(request: HttpRequest) -> HttpResponse:
    """Feedback to work through (comments and thumbs down), each with its question, answer and sources."""
    form, filters = _filters(request)
    state = request.GET.get("state") if request.GET.get("state") in TRIAGE_STATES else "open"
    kind = request.GET.get("kind") if request.GET.get("kind") in TRIAGE_KINDS else "attention"
    found = (
        Feedback.objects.filter(message__in=filters.messages().values("pk"))
        .filter(TRIAGE_STATES[state], TRIAGE_KINDS[kind])
        .select_related("message", "user", "handled_by")
        .order_by("-created_at", "-pk")
    )
    page = CappedCountPaginator(found, 25).get_page(request.GET.get("page"))
    filter_query = request.GET.copy()
    for name in ("state", "kind", "page"):
        filter_query.pop(name, None)
    context = {
        **_context(request, "Feedback triage", form),
        "base_query": filter_query.urlencode(),
        "extra_fields": [("state", state), ("kind", kind)],
        "page": page,
        "state": state,
        "kind": kind,
        "states": list(TRIAGE_STATES),
        "kinds": list(TRIAGE_KINDS),
    }
    return TemplateResponse(request, "admin/rag/feedback_triage.html", context)


@require_POST
@analytics_view
def feedback_handle(request: HttpRequest, feedback_id: int) -> HttpResponse:
    feedback = get_object_or_404(Feedback, pk=feedback_id)
    if request.POST.get("handled") == "yes":
        feedback.handled_at, feedback.handled_by = timezone.now(), request.user
    else:
        feedback.handled_at, feedback.handled_by = None, None
    feedback.save(update_fields=["handled_at", "handled_by", "updated_at"])
    back = QueryDict(request.POST.get("next", "")).urlencode()  # re-encoded: only a query string comes back
    return redirect(f"{reverse('analytics:feedback')}?{back}")


def _csv_response(name: str, filters: analytics.Filters, header: list[str], rows) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        csv_export.csv_lines(header, rows), content_type="text/csv; charset=utf-8"
    )
    filename = f"{name}-{filters.start:%Y-%m-%d}-to-{filters.end:%Y-%m-%d}.csv"
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response


@analytics_view
def messages_csv(request: HttpRequest) -> StreamingHttpResponse:
    _, filters = _filters(request)
    return _csv_response("messages", filters, csv_export.MESSAGE_COLUMNS, csv_export.message_rows(filters))


@analytics_view
def feedback_csv(request: HttpRequest) -> StreamingHttpResponse:
    _, filters = _filters(request)
    return _csv_response("feedback", filters, csv_export.FEEDBACK_COLUMNS, csv_export.feedback_rows(filters))


analytics_urls = (
    [
        path("", overview, name="overview"),
        path("versions/", versions, name="versions"),
        path("feedback/", feedback_triage, name="feedback"),
        path("feedback/<int:feedback_id>/handle", feedback_handle, name="feedback-handle"),
        path("messages.csv", messages_csv, name="messages-csv"),
        path("feedback.csv", feedback_csv, name="feedback-csv"),
    ],
    "analytics",
)
