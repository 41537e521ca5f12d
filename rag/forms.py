"""Request schemas of the chat's JSON API (checked by `toolkitrag.api`: every bad value gets a 400
with a sentence saying why) and the analytics filters."""

from django import forms
from django.conf import settings
from django.contrib.postgres.forms import SimpleArrayField
from django.db.models import QuerySet
from django.utils import timezone
from pydantic import Field, field_validator

from rag import golden
from rag.analytics import Filters
from rag.models import GoldenQuestion
from toolkit.access import Viewer, visible_toolkits
from toolkit.models import Toolkit, ToolkitVersion
from toolkitrag.api import BadRequest, Schema, invalid

MAX_TOOLKITS = 50


def askable_toolkits(viewer: Viewer) -> QuerySet[Toolkit]:
    """The toolkits the viewer can ask: those they may see with an active, ready version."""
    ready = ToolkitVersion.Status.READY
    return visible_toolkits(viewer).filter(versions__is_active=True, versions__status=ready).distinct()


class AnswerRequest(Schema):
    query: str
    top_k: int = Field(default_factory=lambda: settings.RAG_TOP_K)  # read per request, not at import
    conversation_id: int | None = None
    toolkits: list[int] | None = Field(default=None, max_length=MAX_TOOLKITS)  # None: every toolkit

    messages = {"query": "'query' is required and must be a string."}

    @field_validator("query")
    @classmethod
    def _query(cls, query: str) -> str:
        query = query.strip()
        if not query:
            raise invalid("'query' must not be empty.")
        if len(query) > settings.RAG_MAX_QUERY_CHARS:
            raise invalid(f"'query' is too long (at most {settings.RAG_MAX_QUERY_CHARS} characters).")
        return query

    @field_validator("top_k")
    @classmethod
    def _top_k(cls, top_k: int) -> int:
        if not 1 <= top_k <= 20:
            raise invalid("'top_k' must be between 1 and 20.")
        return top_k

    @field_validator("toolkits")
    @classmethod
    def _toolkits(cls, toolkit_ids: list[int] | None) -> list[int] | None:
        if toolkit_ids is None:
            return None
        if not toolkit_ids:
            raise invalid("'toolkits' must list at least one toolkit id (leave it out to ask every toolkit).")
        return list(dict.fromkeys(toolkit_ids))

    def check_toolkits(self, viewer: Viewer) -> None:
        """Raise BadRequest unless every toolkit chosen can be asked by the viewer. A toolkit they
        may not see reads like one that does not exist: its id tells them nothing."""
        if self.toolkits is None:
            return
        askable = set(askable_toolkits(viewer).values_list("pk", flat=True))
        unknown = [str(toolkit_id) for toolkit_id in self.toolkits if toolkit_id not in askable]
        if unknown:
            raise BadRequest(
                f"'toolkits' includes ids that are not toolkits with an active version: {', '.join(unknown)}."
            )


class FeedbackRequest(Schema):
    rating: str
    comment: str = ""

    messages = {"rating": "'rating' must be 'up' or 'down'."}

    @field_validator("rating")
    @classmethod
    def _rating(cls, rating: str) -> str:
        if rating not in ("up", "down"):
            raise invalid("'rating' must be 'up' or 'down'.")
        return rating

    @field_validator("comment")
    @classmethod
    def _comment(cls, comment: str) -> str:
        if len(comment) > 2000:
            raise invalid("'comment' is too long (at most 2000 characters).")
        return comment.strip()

    @property
    def score(self) -> int:
        return 1 if self.rating == "up" else -1


class TitleRequest(Schema):
    title: str

    messages = {"title": "'title' is required and must be a string."}

    @field_validator("title")
    @classmethod
    def _title(cls, title: str) -> str:
        title = " ".join(title.split())
        if not title:
            raise invalid("'title' must not be empty.")
        return title[:200]


class AnalyticsFilterForm(forms.Form):
    """Date range (last N days, or from/to), toolkit and version for the analytics pages.

    Invalid input shows its error and the figures fall back to the last 30 days.
    """

    MAX_DAYS = 400
    # Dates outside these years are refused: 9999-12-31 overflowed Python's dates (a 500, and a CSV
    # cut off mid-download), and no question can have been asked before the product or after next year.
    FIRST_YEAR = 2000
    days = forms.TypedChoiceField(
        choices=[(7, "Last 7 days"), (30, "Last 30 days"), (90, "Last 90 days"), (0, "From … to …")],
        coerce=int,
        required=False,
        initial=30,
        label="Period",
    )
    start = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    toolkit = forms.ModelChoiceField(
        Toolkit.objects.order_by("name"), required=False, empty_label="All toolkits"
    )
    version = forms.ModelChoiceField(
        ToolkitVersion.objects.filter(status=ToolkitVersion.Status.READY)
        .select_related("toolkit")
        .order_by("toolkit__name", "-created_at"),
        required=False,
        empty_label="All versions",
    )

    def clean(self):
        data = super().clean()
        last_year = timezone.localdate().year + 1
        for name in ("start", "end"):
            day = data.get(name)
            if day is not None and not self.FIRST_YEAR <= day.year <= last_year:
                self.add_error(name, f"Choose a day between {self.FIRST_YEAR} and {last_year}.")
                data.pop(name, None)
                return data
        if data.get("days") == 0:
            start, end = data.get("start"), data.get("end") or timezone.localdate()
            if start is None:
                self.add_error("start", "Give the first day of the range.")
            elif start > end:
                self.add_error("end", "The range ends before it starts.")
            elif (end - start).days >= self.MAX_DAYS:
                self.add_error("start", f"Choose at most {self.MAX_DAYS} days.")
        return data

    def filters(self) -> Filters:
        if not self.is_bound or not self.is_valid():
            return Filters.last_days(30)
        data = self.cleaned_data
        toolkit, version = data.get("toolkit"), data.get("version")
        scope = {
            "toolkit_id": toolkit.pk if toolkit else None,
            "document_id": version.pk if version else None,
        }
        if data.get("days") == 0:
            return Filters(start=data["start"], end=data.get("end") or timezone.localdate(), **scope)
        return Filters.last_days(data.get("days") or 30, **scope)


class GoldenQuestionForm(forms.ModelForm):
    """A golden question in the admin: its expected sections are picked from the heading tree of
    the toolkit's active version (every toolkit's, grouped; checked against the chosen one)."""

    expected_headings = forms.MultipleChoiceField(
        required=False,
        label="Expected sections",
        help_text="The section(s) that should answer it, from the active version (any one cited passes).",
        widget=forms.SelectMultiple(attrs={"size": 14}),
    )
    must_contain = SimpleArrayField(
        forms.CharField(max_length=200),
        delimiter="|",
        required=False,
        help_text='Words or phrases the answer must contain, separated by "|" (case does not matter).',
    )

    class Meta:
        model = GoldenQuestion
        fields = ["toolkit", "question", "expected_headings", "must_contain", "must_refuse", "origin"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        current = self.instance.expected_headings if self.instance.pk else []
        choices = []
        for toolkit in Toolkit.objects.order_by("name"):
            active = toolkit.active_version
            headings = list(golden.sections_of(active)) if active else []
            if self.instance.pk and self.instance.toolkit_id == toolkit.pk:
                headings += [h for h in current if h not in headings]  # kept, though no longer there
            choices.append((str(toolkit), [(h, h) for h in headings]))
        self.fields["expected_headings"].choices = choices
        if self.instance.pk:
            self.initial.setdefault("expected_headings", current)

    def clean(self):
        data = super().clean()
        toolkit, headings = data.get("toolkit"), data.get("expected_headings") or []
        if data.get("must_refuse") and (headings or data.get("must_contain")):
            raise forms.ValidationError(
                "A question that must be refused has no expected sections or words: clear them, or untick it."
            )
        if toolkit is None:
            return data
        active = toolkit.active_version
        kept = {
            s["heading"]: s for s in self.instance.expected_sections if self.instance.toolkit_id == toolkit.pk
        }
        sections = golden.sections_of(active) if active else {}
        unknown = [h for h in headings if h not in sections and h not in kept]
        if unknown:
            self.add_error(
                "expected_headings", f"{toolkit} has no section {', '.join(repr(h) for h in unknown)}."
            )
        else:
            self.instance.expected_sections = [
                {"heading": h, "fingerprint": sections[h]} if h in sections else kept[h] for h in headings
            ]
        return data


class GoldenImportForm(forms.Form):
    toolkit = forms.ModelChoiceField(queryset=Toolkit.objects.order_by("name"))
    file = forms.FileField(
        help_text='CSV with the columns question, expected_sections (heading paths with " > " between '
        'levels, "|" between sections), must_contain ("|" between words), must_refuse (yes/no).'
    )
    MAX_BYTES = 2 * 1024 * 1024

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > self.MAX_BYTES:
            raise forms.ValidationError("The file is larger than 2 MB.")
        try:
            return upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise forms.ValidationError("The file is not UTF-8 text (save it as CSV UTF-8).") from None


class ActivationForm(forms.Form):
    accept_regressions = forms.BooleanField(
        required=False, label="I accept that the golden questions listed above newly fail on this version."
    )
