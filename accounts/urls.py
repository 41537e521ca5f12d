from django.urls import path

from accounts import account_views, views
from accounts.oidc import SsoCallbackView, SsoStartView

urlpatterns = [
    path("register", views.register, name="register"),
    path("register/<str:token>", views.register_confirm, name="register-confirm"),
    path("invite/<str:token>", views.invitation, name="invitation"),
    path("login", views.login_view, name="login"),
    path("logout", views.logout_confirm, name="logout"),
    path("account", account_views.account, name="account"),
    path("account/tokens", account_views.token_create, name="api-token-create"),
    path("account/tokens/<int:token_id>/revoke", account_views.token_revoke, name="api-token-revoke"),
    path("password_reset", views.password_reset, name="password_reset"),
    path("password_reset/done", views.password_reset_done, name="password_reset_done"),
    path("reset/<uidb64>/<token>", views.password_reset_confirm, name="password_reset_confirm"),
    path("reset/done", views.password_reset_complete, name="password_reset_complete"),
    # Single sign-on (accounts/oidc.py); 404 while OIDC_ISSUER is unset. The callback is the
    # redirect URI registered at the provider: https://<host>/auth/sso/callback
    path("sso/start", SsoStartView.as_view(), name="sso-start"),
    path("sso/callback", SsoCallbackView.as_view(), name="sso-callback"),
]
