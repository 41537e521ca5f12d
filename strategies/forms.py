"""Plan and item forms, used by the pages and, through `validate_json`, by the JSON API."""

from django import forms
from django.forms.models import model_to_dict

from rag.forms import BadRequest
from strategies.models import PlanItem, StrategyPlan


class PlanForm(forms.ModelForm):
    class Meta:
        model = StrategyPlan
        fields = ["title", "summary", "status"]
        widgets = {"summary": forms.Textarea(attrs={"rows": 4})}


class ItemForm(forms.ModelForm):
    class Meta:
        model = PlanItem
        fields = ["kind", "text", "owner_name", "due_date", "status"]
        widgets = {
            "text": forms.Textarea(attrs={"rows": 3}),
            "due_date": forms.DateInput(attrs={"type": "date"}),
        }
        help_texts = {"owner_name": "Who does it (actions).", "status": "For actions."}


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

    def clean(self):
        data = super().clean()
        if not data.get("plan") and not (data.get("new_plan_title") or "").strip():
            self.add_error("new_plan_title", "Pick a plan or give the new plan a title.")
        return data


NULLABLE = {"due_date"}


def validate_json(form_class: type[forms.ModelForm], body, instance=None, extra: set[str] = frozenset()):
    """Check a JSON object against a form: strings only (null where a field may be empty).

    With an instance, fields the body leaves out keep their values (PATCH). Returns the unsaved
    instance and the body's extra fields; raises BadRequest with the first problem.
    """
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    fields = form_class._meta.fields
    unknown = set(body) - set(fields) - set(extra)
    if unknown:
        raise BadRequest(f"Unknown field(s): {', '.join(sorted(unknown))}.")
    for name in fields:
        value = body.get(name)
        if name in body and not isinstance(value, str) and not (value is None and name in NULLABLE):
            raise BadRequest(f"'{name}' must be a string.")
    instance = instance if instance is not None else form_class._meta.model()
    data = model_to_dict(instance, fields)
    data = {name: value for name, value in data.items() if value is not None}
    data.update({name: body[name] for name in fields if name in body})
    form = form_class(data=data, instance=instance)
    if not form.is_valid():
        name, errors = next(iter(form.errors.items()))
        raise BadRequest(f"'{name}': {errors[0]}" if name != "__all__" else errors[0])
    return form.save(commit=False), {name: body[name] for name in extra if name in body}
