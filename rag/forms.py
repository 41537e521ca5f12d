"""Validation of the JSON API's input (every bad value gets a 400 with a sentence saying why) and the
analytics filters."""

from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.utils import timezone

from rag.analytics import Filters
from toolkit.models import Document, Toolkit


class BadRequest(ValueError):
    pass


@dataclass
class AnswerRequest:
    query: str
    top_k: int
    conversation_id: int | None


def _text(value: str, name: str) -> str:
    if "\x00" in value:  # PostgreSQL text cannot hold it
        raise BadRequest(f"'{name}' must not contain NUL characters.")
    return value


def _integer(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"'{name}' must be an integer.")
    return value


def parse_answer_request(body) -> AnswerRequest:
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    unknown = set(body) - {"query", "top_k", "conversation_id"}
    if unknown:
        raise BadRequest(f"Unknown field(s): {', '.join(sorted(unknown))}.")
    query = body.get("query")
    if not isinstance(query, str):
        raise BadRequest("'query' is required and must be a string.")
    query = _text(query, "query").strip()
    if not query:
        raise BadRequest("'query' must not be empty.")
    if len(query) > settings.RAG_MAX_QUERY_CHARS:
        raise BadRequest(f"'query' is too long (at most {settings.RAG_MAX_QUERY_CHARS} characters).")
    top_k = body.get("top_k", settings.RAG_TOP_K)
    top_k = _integer(top_k, "top_k")
    if not 1 <= top_k <= 20:
        raise BadRequest("'top_k' must be between 1 and 20.")
    conversation_id = body.get("conversation_id")
    if conversation_id is not None:
        conversation_id = _integer(conversation_id, "conversation_id")
    return AnswerRequest(query=query, top_k=top_k, conversation_id=conversation_id)


def parse_feedback(body) -> tuple[int, str]:
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    rating = body.get("rating")
    if rating not in ("up", "down"):
        raise BadRequest("'rating' must be 'up' or 'down'.")
    comment = body.get("comment", "")
    if not isinstance(comment, str):
        raise BadRequest("'comment' must be a string.")
    _text(comment, "comment")
    if len(comment) > 2000:
        raise BadRequest("'comment' is too long (at most 2000 characters).")
    return (1 if rating == "up" else -1), comment.strip()


def parse_title(body) -> str:
    if not isinstance(body, dict) or not isinstance(body.get("title"), str):
        raise BadRequest("'title' is required and must be a string.")
    title = " ".join(_text(body["title"], "title").split())
    if not title:
        raise BadRequest("'title' must not be empty.")
    return title[:200]


class AnalyticsFilterForm(forms.Form):
    """Date range (last N days, or from/to), toolkit and version for the analytics pages.

    Invalid input shows its error and the figures fall back to the last 30 days.
    """

    MAX_DAYS = 400
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
        Document.objects.filter(status=Document.Status.READY)
        .select_related("toolkit")
        .order_by("toolkit__name", "-created_at"),
        required=False,
        empty_label="All versions",
    )

    def clean(self):
        data = super().clean()
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
