from django import forms
from django.db.models.functions import Lower

from toolkit import uploads
from toolkit.docx_validation import DocxRejected, check_size
from toolkit.models import LANGUAGES, Toolkit, ToolkitVersion


class VersionUploadForm(forms.ModelForm):
    """Admin upload of a toolkit version: checked completely before anything is stored."""

    toolkit = forms.ModelChoiceField(
        queryset=Toolkit.objects.order_by(Lower("name")), required=False, help_text="An existing toolkit…"
    )
    new_toolkit_name = forms.CharField(
        max_length=200,
        required=False,
        help_text="…or the name of a new one (e.g. Community Strategy Toolkit).",
    )
    new_toolkit_language = forms.TypedChoiceField(
        label="Its language",
        choices=LANGUAGES,
        initial="english",
        required=False,
        empty_value="english",
        help_text="For a new toolkit: the language it is written in (keyword search stems its words).",
    )
    source_file = forms.FileField(
        label="Word file (.docx)", widget=forms.ClearableFileInput(attrs={"accept": ".docx"})
    )
    activate = forms.BooleanField(
        required=False,
        help_text="Answer questions from this version once it is ready (the first version of a toolkit "
        "is made active anyway).",
    )

    class Meta:
        model = ToolkitVersion
        fields = [
            "toolkit", "new_toolkit_name", "new_toolkit_language", "version_tag", "title", "source_file",
            "activate",
        ]  # fmt: skip
        help_texts = {
            "version_tag": "Unique within the toolkit, e.g. 2024.1 or v3.",
            "title": "Leave empty to use the document's title or first heading.",
        }

    def clean_version_tag(self) -> str:
        tag = self.cleaned_data["version_tag"].strip()
        if not tag:
            raise forms.ValidationError("Give the version a tag.")
        return tag

    def clean_source_file(self):
        upload = self.cleaned_data["source_file"]
        try:
            check_size(upload.size)  # before reading a byte
            upload.seek(0)
            self.parsed = uploads.check_upload(upload, upload.name)
        except DocxRejected as error:
            raise forms.ValidationError(str(error)) from None
        return upload

    def clean(self):
        cleaned = super().clean()
        toolkit, new_name = cleaned.get("toolkit"), (cleaned.get("new_toolkit_name") or "").strip()
        if toolkit and new_name:
            raise forms.ValidationError("Choose an existing toolkit or name a new one, not both.")
        if not toolkit and not new_name:
            raise forms.ValidationError("Choose a toolkit or name a new one.")
        if new_name:
            toolkit = Toolkit.objects.filter(name__iexact=new_name).first()
            if toolkit is not None:
                cleaned["toolkit"] = toolkit  # the same name typed again means that toolkit
        tag = cleaned.get("version_tag")
        if (
            toolkit
            and tag
            and ToolkitVersion.objects.filter(toolkit=toolkit, version_tag__iexact=tag).exists()
        ):
            self.add_error("version_tag", f"{toolkit} already has a version '{tag}'.")
        return cleaned

    def _post_clean(self):
        # The model instance is built by uploads.create_version, not by ModelForm.
        pass
