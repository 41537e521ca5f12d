from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin

from accounts import invitations, lockout
from accounts.account_mail import MailNotSent
from accounts.forms import InvitationAdminForm
from accounts.models import Invitation, User


@admin.register(User)
class AccountAdmin(UserAdmin):
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
