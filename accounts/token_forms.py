"""Forms that issue API tokens: the account page's and the admin's (staff, for service accounts).

The rules themselves (names, limit, expiry) live in accounts/api_tokens.py; these forms only turn
its TokenRefused into field errors."""

from django import forms

from accounts.api_tokens import MAX_EXPIRY_DAYS, NAME_MAX_LENGTH, TokenRefused, check_can_issue
from accounts.models import ApiToken

EXPIRY_HELP = f"Empty: the token never expires (revoke it when done). At most {MAX_EXPIRY_DAYS} days."


def expiry_field() -> forms.IntegerField:
    return forms.IntegerField(
        label="Expires in (days)",
        required=False,
        min_value=1,
        max_value=MAX_EXPIRY_DAYS,
        help_text=EXPIRY_HELP,
    )


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        max_length=NAME_MAX_LENGTH, help_text="What uses it, e.g. “weekly report script”.", strip=True
    )
    expires_in_days = expiry_field()

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_name(self) -> str:
        try:
            return check_can_issue(self.user, self.cleaned_data["name"])
        except TokenRefused as refused:
            raise forms.ValidationError(str(refused)) from None


class ApiTokenAdminForm(forms.ModelForm):
    """Adding a token in the admin: for whom, its name and expiry; the secret is made on save."""

    expires_in_days = expiry_field()

    class Meta:
        model = ApiToken
        fields = ("user", "name")

    def clean(self) -> dict:
        cleaned = super().clean()
        user, name = cleaned.get("user"), cleaned.get("name")
        if user is not None and name is not None:
            try:
                cleaned["name"] = check_can_issue(user, name)
            except TokenRefused as refused:
                self.add_error("name", str(refused))
        return cleaned
