from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models


class StrategyPlan(models.Model):
    """A user's private plan: goals, actions and notes, many of them carried over from cited answers."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        DONE = "done", "Done"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="strategy_plans"
    )
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True, max_length=5000)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "strategies"
        ordering = ["-updated_at", "-pk"]
        indexes = [models.Index(fields=["owner", "-updated_at"], name="strategies_owner_recent")]

    def __str__(self) -> str:
        return self.title

    def to_dict(self, items: list[dict] | None = None) -> dict:
        """The plan as the API shows it: with its items (already serialised), or, in lists, their count
        (annotate `item_count`)."""
        data = {
            "id": self.pk,
            "title": self.title,
            "summary": self.summary,
            "status": self.status,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
        if items is None:
            data["item_count"] = getattr(self, "item_count", None)
        else:
            data["items"] = items
        return data


class PlanItem(models.Model):
    """One line of a plan, in the order the owner chose."""

    class Kind(models.TextChoices):
        GOAL = "goal", "Goal"
        ACTION = "action", "Action"
        NOTE = "note", "Note"

    class Status(models.TextChoices):  # for actions only
        TODO = "todo", "To do"
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"

    plan = models.ForeignKey(StrategyPlan, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.ACTION)
    text = models.TextField(max_length=10000)
    owner_name = models.CharField("owner", max_length=100, blank=True)  # who does an action
    due_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.TODO)
    # The chat answer this item was made from, if any (the answer may later be deleted with its chat).
    source_message = models.ForeignKey(
        "rag.Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "strategy_items"
        ordering = ["position", "pk"]
        indexes = [models.Index(fields=["plan", "position"], name="strategy_items_plan_position")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.text[:60]}"

    def to_dict(self, states: dict) -> dict:
        """The item with its citations; `states` maps citation ids to their CitationState (see
        strategies.citations.citation_states, which finds them for many items at once)."""
        return {
            "id": self.pk,
            "position": self.position,
            "kind": self.kind,
            "text": self.text,
            "owner_name": self.owner_name,
            "due_date": self.due_date,
            "status": self.status,
            "source_message_id": self.source_message_id,
            "citations": [citation.to_dict(states[citation.pk]) for citation in self.citations.all()],
        }


class ItemCitation(models.Model):
    """A toolkit section an item cites, as it read when it was added.

    The toolkit name, version tag, heading path, snippet and content hash are copied so a later
    toolkit version (or a deleted one) never silently changes the plan; the links are kept only to
    show whether the active version still says the same thing.
    """

    item = models.ForeignKey(PlanItem, on_delete=models.CASCADE, related_name="citations")
    n = models.PositiveSmallIntegerField()  # the [n] the item's text uses
    chunk = models.ForeignKey(
        "toolkit.Chunk", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    toolkit = models.ForeignKey(
        "toolkit.Toolkit", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    document = models.ForeignKey(
        "toolkit.ToolkitVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    toolkit_name = models.CharField(max_length=200)
    version_tag = models.CharField(max_length=50)
    heading_path = ArrayField(models.TextField(), default=list, blank=True)
    snippet = models.TextField(blank=True)
    content_hash = models.CharField(max_length=64, blank=True)

    class Meta:
        db_table = "strategy_item_citations"
        ordering = ["item", "n"]
        constraints = [models.UniqueConstraint(fields=["item", "n"], name="strategy_item_citations_unique_n")]

    def __str__(self) -> str:
        return f"[{self.n}] {self.toolkit_name} {self.version_tag} {' > '.join(self.heading_path)}"

    def to_dict(self, state) -> dict:
        """The citation as it read when added, and `state`: whether the active version still says it."""
        return {
            "n": self.n,
            "chunk_id": self.chunk_id if state.links else None,  # no way back to a section they lost
            "toolkit": self.toolkit_name,
            "version_tag": self.version_tag,
            "heading_path": self.heading_path,
            "snippet": self.snippet,
            "state": state.state,
            "active_version": state.active_version,
            "message": state.message,
        }
