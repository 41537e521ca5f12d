from datetime import datetime

from django import forms
from django.contrib.auth import forms as auth_forms
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.account_mail import deliver, send_account_mail
from accounts.models import Invitation, User
from accounts.registration import domain_allowed


class RegistrationForm(forms.Form):
    """Step one of registering: the address the sign-up link goes to (accounts/registration.py).

    Never says whether the address has an account: that is for its owner to read in the mail.
    """

    email = forms.EmailField(
        label="Email address",
        max_length=150,  # it becomes the sign-in name, which holds 150 characters
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        help_text="We send a link to this address; you choose your password there. "
        "You will sign in with this address.",
    )

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip()
        if not domain_allowed(email):
            raise ValidationError("Accounts here are for addresses of the organisation only.")
        try:
            UnicodeUsernameValidator()(email)
        except ValidationError:
            raise ValidationError(
                "This address has characters a sign-in name cannot hold; use another address "
                "or ask an administrator for an account."
            ) from None
        return email


class PasswordResetForm(auth_forms.PasswordResetForm):
    """Django's form, plus a mail on the paths where Django sends none.

    Django mails a reset link only to an active account with a password. Here every request
    sends one message, so the page and its timing are the same whatever the address; the
    owner of an address without a resettable account learns why from that message. Since
    every path sends, a mail server failure (MailNotSent) says nothing about the address either,
    so it is raised for the view to report instead of being logged and hidden as Django does.
    """

    def send_mail(self, subject_template_name, email_template_name, context, from_email, to_email, **kwargs):
        subject = "".join(render_to_string(subject_template_name, context).splitlines())
        deliver(subject, render_to_string(email_template_name, context), to_email)

    def save(self, *args, request=None, **kwargs) -> None:
        super().save(*args, request=request, **kwargs)
        email = self.cleaned_data["email"]
        if next(iter(self.get_users(email)), None) is not None:
            return
        has_account = User.objects.filter(email__iexact=email).exists()
        template = "password_reset_unavailable" if has_account else "password_reset_unknown"
        context = {"register": request.build_absolute_uri(reverse("register"))}
        send_account_mail("Password reset on ToolkitRAG", template, email, context)


class InvitationAdminForm(forms.ModelForm):
    class Meta:
        model = Invitation
        fields = ("email", "groups", "expires_at")

    def clean_email(self) -> str:
        # Staff may know who has an account; an invitation for a taken address could never be used.
        email = self.cleaned_data["email"].strip()
        if User.objects.filter(email__iexact=email).exists():
            raise ValidationError("An account with this address exists already.")
        return email

    def clean_expires_at(self) -> datetime:
        expires_at = self.cleaned_data["expires_at"]
        if expires_at <= timezone.now():
            raise ValidationError("Choose a time in the future: the link would not work at all.")
        return expires_at
