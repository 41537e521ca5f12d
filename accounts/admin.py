from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from accounts.models import SsoIdentity, User


class SsoIdentityInline(admin.TabularInline):
    """The account's identity at the SSO provider. Deleting it unlinks the account: the next SSO
    sign-in links by verified e-mail again (or makes a new account)."""

    model = SsoIdentity
    extra = 0
    fields = readonly_fields = ("issuer", "subject", "created_at", "last_login_at")

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # made by signing in, never typed in


class ToolkitUserAdmin(UserAdmin):
    inlines = [SsoIdentityInline]


admin.site.register(User, ToolkitUserAdmin)
