"""Plans are private: the admin shows staff how plans are used (counts), never their content.

There is no change list of titles and no change form. An operator who must read a plan for a
legal reason does it in the database, outside the product, where it is logged by whoever allows it.
"""

from django.contrib import admin
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path

from strategies.models import ItemCitation, PlanItem, StrategyPlan


def plan_counts() -> dict:
    by_kind = dict(PlanItem.objects.values_list("kind").annotate(n=Count("pk")).values_list("kind", "n"))
    by_status = dict(
        StrategyPlan.objects.values_list("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    return {
        "plans": sum(by_status.values()),
        "by_status": [(label, by_status.get(value, 0)) for value, label in StrategyPlan.Status.choices],
        "owners": StrategyPlan.objects.values("owner").distinct().count(),
        "items_by_kind": [(label, by_kind.get(value, 0)) for value, label in PlanItem.Kind.choices],
        "citations": ItemCitation.objects.count(),
        "from_answers": PlanItem.objects.filter(source_message__isnull=False).count(),
    }


@admin.register(StrategyPlan)
class StrategyPlanAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_urls(self):
        # Only the counts page: no URL exists that could show a plan.
        return [
            path("", self.admin_site.admin_view(self.counts_view), name="strategies_strategyplan_changelist")
        ]

    def counts_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        context = {
            **self.admin_site.each_context(request),
            "title": "Strategy plans: counts",
            "opts": self.model._meta,
            "counts": plan_counts(),
        }
        return TemplateResponse(request, "admin/strategies/counts.html", context)
