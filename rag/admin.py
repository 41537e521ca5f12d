"""Chat logs in the admin (read-only) and the analytics pages (/admin/analytics/).

Everything here needs staff status; the analytics pages, the feedback triage and the CSV exports
also need the "Can view the analytics pages and export logs" permission (rag.view_analytics).
"""

from functools import cached_property, wraps

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_POST

from rag import analytics, csv_export, golden
from rag.charts import stacked_bars
from rag.forms import ActivationForm, AnalyticsFilterForm, GoldenImportForm, GoldenQuestionForm
from rag.models import Conversation, Feedback, GoldenQuestion, GoldenRun, Message, RegressionAcceptance
from rag.tasks import enqueue_golden_run
from toolkit.models import ToolkitVersion

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
    rates = golden.pass_rates(filters.toolkit_id)
    golden_chart = stacked_bars(
        [r["label"] for r in rates],
        [
            ("passed", "#2f7d4f", [r["passed"] for r in rates]),
            ("failed", "#c0392b", [r["failed"] for r in rates]),
        ],
        height=140,
    )
    context = {
        **_context(request, "Analytics", form),
        "golden_rates": rates,
        "golden_chart": golden_chart,
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


# --- golden questions (staff only: rag/golden.py) ------------------------------------------------


@admin.register(GoldenQuestion)
class GoldenQuestionAdmin(admin.ModelAdmin):
    form = GoldenQuestionForm
    list_display = ["question", "toolkit", "expected", "must_refuse", "origin", "updated_at"]
    list_filter = ["toolkit", "must_refuse"]
    search_fields = ["question"]
    list_select_related = ["toolkit"]
    change_list_template = "admin/rag/goldenquestion/change_list.html"

    @admin.display(description="expected sections")
    def expected(self, question: GoldenQuestion) -> str:
        return " | ".join(question.expected_headings) or ("(refused)" if question.must_refuse else "—")

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        """One click from analytics: ?from_message=ID&expect=cited|pick|refuse fills the form from
        that question (golden.prefill_from_message); reading it needs the analytics permission."""
        initial = super().get_changeform_initial_data(request)
        message_id = initial.pop("from_message", "")
        kind = initial.pop("expect", "cited")
        if message_id.isdigit() and request.user.has_perm(ANALYTICS_PERMISSION):
            message = Message.objects.filter(pk=int(message_id)).first()
            if message is not None and kind in golden.PREFILL_KINDS:
                initial.update(golden.prefill_from_message(message, kind))
        return initial

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("import/", view(self.import_view), name="rag_golden_import"),
            path("version/<int:version_id>/", view(self.version_view), name="rag_golden_version"),
            path("version/<int:version_id>/run/", view(self.run_now), name="rag_golden_run"),
            path("version/<int:version_id>/activate/", view(self.activate_view), name="rag_golden_activate"),
            path("run/<int:run_id>/progress/", view(self.progress_view), name="rag_golden_progress"),
            path("run/<int:run_id>/csv/", view(self.run_csv), name="rag_golden_run_csv"),
            *super().get_urls(),
        ]

    def _need(self, allowed: bool) -> None:
        if not allowed:
            raise PermissionDenied

    def import_view(self, request: HttpRequest) -> HttpResponse:
        self._need(self.has_add_permission(request) and self.has_change_permission(request))
        form = GoldenImportForm(request.POST or None, request.FILES or None)
        errors: list[str] = []
        if request.method == "POST" and form.is_valid():
            try:
                created, updated = golden.import_csv(
                    form.cleaned_data["toolkit"], form.cleaned_data["file"], request.user
                )
            except golden.ImportRejected as rejected:
                errors = rejected.errors
            else:
                self.message_user(
                    request, f"{created} golden question(s) added, {updated} updated.", messages.SUCCESS
                )
                return redirect("admin:rag_goldenquestion_changelist")
        context = {
            **self.admin_site.each_context(request),
            "title": "Import golden questions",
            "opts": self.model._meta,
            "form": form,
            "errors": errors,
        }
        return TemplateResponse(request, "admin/rag/golden_import.html", context)

    def version_view(self, request: HttpRequest, version_id: int) -> HttpResponse:
        """The version's golden run beside the active version's: what changed, newly failing first."""
        self._need(self.has_view_permission(request))
        version = get_object_or_404(ToolkitVersion.objects.select_related("toolkit"), pk=version_id)
        comparison = golden.compare(version)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Golden questions: {version}",
            "opts": self.model._meta,
            "version": version,
            "comparison": comparison,
            "running": golden.latest_run(version, finished=False),
            "question_count": GoldenQuestion.objects.filter(toolkit=version.toolkit_id).count(),
            "failing": comparison.run.results.filter(passed=False).select_related("question")
            if comparison.run
            else [],
            "acceptances": RegressionAcceptance.objects.filter(version=version).select_related("accepted_by"),
            "activation_form": ActivationForm(),
            "can_activate": request.user.has_perm("toolkit.change_toolkitversion"),
            "can_run": self.has_change_permission(request),
            "activation_blocked": settings.GOLDEN_BLOCK_ACTIVATION,
        }
        return TemplateResponse(request, "admin/rag/golden_version.html", context)

    @method_decorator(require_POST)
    def run_now(self, request: HttpRequest, version_id: int) -> HttpResponse:
        self._need(self.has_change_permission(request))
        version = get_object_or_404(ToolkitVersion, pk=version_id, status=ToolkitVersion.Status.READY)
        if enqueue_golden_run(version, "on demand") is None:
            self.message_user(request, f"{version.toolkit} has no golden questions yet.", messages.WARNING)
        return redirect("admin:rag_golden_version", version_id=version.pk)

    @method_decorator(require_POST)
    def activate_view(self, request: HttpRequest, version_id: int) -> HttpResponse:
        self._need(request.user.has_perm("toolkit.change_toolkitversion"))
        version = get_object_or_404(ToolkitVersion.objects.select_related("toolkit"), pk=version_id)
        form = ActivationForm(request.POST)
        accept = form.is_valid() and form.cleaned_data["accept_regressions"]
        try:
            golden.activate(version, request.user, accept_regressions=accept)
        except golden.RegressionsFound as found:
            self.message_user(request, str(found), messages.ERROR)
        except ValueError as error:  # not ready
            self.message_user(request, f"{version}: {error}", messages.ERROR)
        else:
            self.message_user(
                request, f"{version} is now the active version of {version.toolkit}.", messages.SUCCESS
            )
        return redirect("admin:rag_golden_version", version_id=version.pk)

    def progress_view(self, request: HttpRequest, run_id: int) -> JsonResponse:
        self._need(self.has_view_permission(request))
        golden_run = get_object_or_404(GoldenRun, pk=run_id)
        return JsonResponse(
            {
                "status": golden_run.status,
                "status_label": golden_run.get_status_display(),
                "progress_done": golden_run.progress_done,
                "progress_total": golden_run.progress_total,
                "finished": golden_run.status in (GoldenRun.Status.DONE, GoldenRun.Status.FAILED),
            }
        )

    def run_csv(self, request: HttpRequest, run_id: int) -> StreamingHttpResponse:
        self._need(self.has_view_permission(request))
        golden_run = get_object_or_404(GoldenRun.objects.select_related("version__toolkit"), pk=run_id)
        response = StreamingHttpResponse(
            csv_export.csv_lines(golden.RUN_COLUMNS, golden.run_rows(golden_run)),
            content_type="text/csv; charset=utf-8",
        )
        filename = f"golden-run-{golden_run.pk}-{golden_run.version.version_tag}.csv"
        response["Content-Disposition"] = content_disposition_header(True, filename)
        return response


@admin.register(GoldenRun)
class GoldenRunAdmin(ReadOnlyLogAdmin):
    list_display = ["__str__", "status", "progress", "passed", "failed", "trigger", "backend", "created_at"]
    list_filter = ["status", "version__toolkit"]
    list_select_related = ["version__toolkit"]

    @admin.display(description="progress")
    def progress(self, golden_run: GoldenRun) -> str:
        return f"{golden_run.progress_done}/{golden_run.progress_total}"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        golden_run = get_object_or_404(GoldenRun, pk=object_id)  # its page is its version's
        self._need(self.has_view_permission(request, golden_run))
        return redirect("admin:rag_golden_version", version_id=golden_run.version_id)

    def _need(self, allowed: bool) -> None:
        if not allowed:
            raise PermissionDenied


@admin.register(RegressionAcceptance)
class RegressionAcceptanceAdmin(ReadOnlyLogAdmin):
    list_display = ["version", "replaced", "accepted_by", "accepted_at", "count"]
    list_select_related = ["version__toolkit", "replaced__toolkit", "accepted_by"]

    @admin.display(description="regressions accepted")
    def count(self, acceptance: RegressionAcceptance) -> int:
        return len(acceptance.regressions)
