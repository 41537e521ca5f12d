from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from accounts import invitations, lockout
from accounts.account_mail import MailNotSent
from accounts.api_tokens import fill_new_token, revoke_tokens
from accounts.forms import InvitationAdminForm
from accounts.models import ApiToken, Invitation, SsoIdentity, User
from accounts.token_forms import ApiTokenAdminForm

# Like the account page, the admin shows a new token's plaintext once: saved in the session by the
# add form, taken out by the change page it redirects to (a message added and shown in the same
# response is never stored, unlike one carried across a redirect in the messages cookie).
SHOWN_ONCE = "admin_api_token_shown_once"


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Staff issue tokens here for service accounts (or anyone); the hash is never shown or edited."""

    list_display = ("name", "user", "token", "created_at", "last_used_at", "expires_at", "status")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "prefix", "user__username")
    list_select_related = ("user",)
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # The new token is shown on its change page: whoever adds one must be able to open it.
        return super().has_add_permission(request) and self.has_view_or_change_permission(request)

    def get_form(self, request: HttpRequest, obj: ApiToken | None = None, change: bool = False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiTokenAdminForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: ApiToken | None = None):
        if obj is None:
            return ("user", "name", "expires_in_days")
        return ("user", "name", "token", "created_at", "expires_at", "last_used_at", "revoked_at")

    def get_readonly_fields(self, request: HttpRequest, obj: ApiToken | None = None):
        if obj is None:
            return ()
        return ("user", "token", "created_at", "expires_at", "last_used_at", "revoked_at")

    @admin.display(description="Token")
    def token(self, obj: ApiToken) -> str:
        return obj.display_prefix

    def save_model(self, request: HttpRequest, obj: ApiToken, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        plaintext = fill_new_token(obj, form.cleaned_data.get("expires_in_days"))
        super().save_model(request, obj, form, change)
        request.session[SHOWN_ONCE] = {"id": obj.pk, "token": plaintext}

    def response_add(self, request: HttpRequest, obj: ApiToken, post_url_continue=None) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:accounts_apitoken_change", args=[obj.pk]))

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        shown = request.session.get(SHOWN_ONCE)
        if shown is not None and str(shown["id"]) == str(object_id):
            del request.session[SHOWN_ONCE]
            messages.warning(request, f"The new token, shown only this once (copy it now): {shown['token']}")
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset) -> None:
        count = revoke_tokens(queryset)
        self.message_user(request, f"{count} token(s) revoked.", messages.SUCCESS)


class SsoIdentityInline(admin.TabularInline):
    """The account's identity at the SSO provider. Deleting it unlinks the account: the next SSO
    sign-in links by verified e-mail again (or makes a new account)."""

    model = SsoIdentity
    extra = 0
    fields = readonly_fields = ("issuer", "subject", "created_at", "last_login_at")

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # made by signing in, never typed in


@admin.register(User)
class AccountAdmin(UserAdmin):
    inlines = [SsoIdentityInline]
    actions = ["lift_lockout"]

    @admin.action(description="Lift login lockout of selected users")
    def lift_lockout(self, request, queryset) -> None:
        lifted = sum(lockout.lift(user.get_username()) for user in queryset)
        self.message_user(request, f"Lifted {lifted} lockout record(s); these users can sign in again.")


# django-axes' own admin of failed-login records, with the action said plainly.
admin.site.unregister(AccessAttempt)


@admin.register(AccessAttempt)
class LockoutAdmin(AccessAttemptAdmin):
    actions = ["lift_lockout", *AccessAttemptAdmin.actions]

    @admin.action(description="Lift lockout (delete the selected failure records)")
    def lift_lockout(self, request, queryset) -> None:
        count, _ = queryset.delete()
        self.message_user(request, f"Lifted {count} lockout record(s).")


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    """Staff invite an address; saving a new invitation mails its link (REGISTRATION_MODE=invite)."""

    form = InvitationAdminForm
    list_display = ("email", "invited_by", "created_at", "expires_at", "accepted_at")
    list_filter = ("accepted_at",)
    search_fields = ("email",)
    filter_horizontal = ("groups",)
    readonly_fields = ("invited_by", "created_at", "accepted_at")
    actions = ["resend"]

    def get_readonly_fields(self, request, obj=None):
        # The address is what the link was sent to: a different one needs a new invitation.
        return (*self.readonly_fields, "email") if obj else self.readonly_fields

    def save_model(self, request, obj, form, change) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        obj.invited_by = request.user
        token = invitations.new_token(obj)
        super().save_model(request, obj, form, change)
        self._send(request, obj, token)

    def _send(self, request, invitation: Invitation, token: str) -> None:
        try:
            invitations.send_invitation(request, invitation, token)
        except MailNotSent as error:
            self.message_user(
                request,
                f"The invitation to {invitation.email} is saved, but the mail server failed ({error}). "
                "Select it and choose “Resend” once mail works.",
                messages.ERROR,
            )
        else:
            self.message_user(request, f"Invitation mailed to {invitation.email}.")

    @admin.action(description="Resend selected invitations (new link, new expiry)")
    def resend(self, request, queryset) -> None:
        for invitation in queryset:
            if invitation.accepted_at is not None:
                self.message_user(request, f"{invitation.email} has accepted already.", messages.WARNING)
                continue
            token = invitations.renew(invitation)
            self._send(request, invitation, token)
