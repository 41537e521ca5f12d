"""Plan and item forms, used by the pages and, through `checked_instance`, by the JSON API (whose
request schemas check the JSON's shape first)."""

from django import forms
from django.conf import settings
from django.core.validators import MaxLengthValidator
from django.forms.models import model_to_dict
from pydantic import Field, field_validator

from strategies.models import PlanItem, StrategyPlan
from toolkitrag.api import BadRequest, Schema, invalid


def cap_text(field: forms.CharField) -> None:
    """Hold a text field to PLAN_MAX_TEXT_CHARS (read per form, so operators and tests can change it)."""
    limit = min(settings.PLAN_MAX_TEXT_CHARS, field.max_length or settings.PLAN_MAX_TEXT_CHARS)
    field.max_length = limit
    field.validators.append(MaxLengthValidator(limit))
    field.widget.attrs["maxlength"] = str(limit)


class PlanForm(forms.ModelForm):
    class Meta:
        model = StrategyPlan
        fields = ["title", "summary", "status"]
        widgets = {"summary": forms.Textarea(attrs={"rows": 4})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cap_text(self.fields["summary"])


class ItemForm(forms.ModelForm):
    class Meta:
        model = PlanItem
        fields = ["kind", "text", "owner_name", "due_date", "status"]
        widgets = {
            "text": forms.Textarea(attrs={"rows": 3}),
            "due_date": forms.DateInput(attrs={"type": "date"}),
        }
        help_texts = {"owner_name": "Who does it (actions).", "status": "For actions."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cap_text(self.fields["text"])


class AddAnswerForm(forms.Form):
    """Add a chat answer to one of the user's plans, or to a new plan named here."""

    plan = forms.ModelChoiceField(
        queryset=StrategyPlan.objects.none(), required=False, empty_label="A new plan…"
    )
    new_plan_title = forms.CharField(max_length=200, required=False, label="Title of the new plan")
    kind = forms.ChoiceField(choices=PlanItem.Kind.choices, initial=PlanItem.Kind.NOTE, label="Add as")
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 8}), max_length=10000)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plan"].queryset = StrategyPlan.objects.filter(owner=user)
        cap_text(self.fields["text"])

    def clean(self):
        data = super().clean()
        if not data.get("plan") and not (data.get("new_plan_title") or "").strip():
            self.add_error("new_plan_title", "Pick a plan or give the new plan a title.")
        return data


class PlanSearchForm(forms.Form):
    """The plan list's search box and status filter. Its CharField refuses NUL characters (which
    PostgreSQL cannot compare against), so `?q=%00` is a form error, not a database error."""

    q = forms.CharField(required=False)
    status = forms.CharField(required=False)


class PlanRequest(Schema):
    """A plan's fields as JSON. On PATCH and PUT, fields left out keep their values."""

    title: str = ""
    summary: str = ""
    status: str = ""


class ItemRequest(Schema):
    """An item's fields as JSON (strings; null empties the due date)."""

    kind: str = ""
    text: str = ""
    owner_name: str = ""
    due_date: str | None = None
    status: str = ""


class NewItemRequest(ItemRequest):
    """A new item, citing toolkit sections by chunk id."""

    chunk_ids: list[int] = []

    @field_validator("chunk_ids")
    @classmethod
    def _at_most(cls, chunk_ids: list[int]) -> list[int]:
        limit = settings.PLAN_MAX_CITATIONS_PER_ITEM  # read per request: operators and tests change it
        if len(chunk_ids) > limit:
            raise invalid(f"'chunk_ids' has too many entries (at most {limit}).")
        return chunk_ids


class AnswerItemRequest(ItemRequest):
    """A chat answer added as an item with its citations; its text is the default."""

    message_id: int


class ItemOrderRequest(Schema):
    item_ids: list[int] = Field(max_length=10000)

    messages = {"item_ids": "'item_ids' must be a list of integers."}


def checked_instance(form_class: type[forms.ModelForm], fields: Schema, instance=None):
    """The unsaved instance with the fields the request sent, checked by the page's form (one set of
    rules for pages and API); fields left out keep the instance's values. Raises BadRequest."""
    names = form_class._meta.fields
    instance = instance if instance is not None else form_class._meta.model()
    data = {name: value for name, value in model_to_dict(instance, names).items() if value is not None}
    data.update({name: getattr(fields, name) for name in names if name in fields.model_fields_set})
    form = form_class(data=data, instance=instance)
    if not form.is_valid():
        name, errors = next(iter(form.errors.items()))
        raise BadRequest(f"'{name}': {errors[0]}" if name != "__all__" else errors[0])
    return form.save(commit=False)
