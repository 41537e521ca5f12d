from django.urls import path

from accounts import views
from accounts.oidc import SsoCallbackView, SsoStartView

urlpatterns = [
    path("register", views.register, name="register"),
    path("login", views.login_view, name="login"),
    path("logout", views.logout_confirm, name="logout"),
    # Single sign-on (accounts/oidc.py); 404 while OIDC_ISSUER is unset. The callback is the
    # redirect URI registered at the provider: https://<host>/auth/sso/callback
    path("sso/start", SsoStartView.as_view(), name="sso-start"),
    path("sso/callback", SsoCallbackView.as_view(), name="sso-callback"),
]
