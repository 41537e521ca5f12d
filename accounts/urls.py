from django.urls import path

from accounts import account_views, views

urlpatterns = [
    path("register", views.register, name="register"),
    path("login", views.login_view, name="login"),
    path("logout", views.logout_confirm, name="logout"),
    path("account", account_views.account, name="account"),
    path("account/tokens", account_views.token_create, name="api-token-create"),
    path("account/tokens/<int:token_id>/revoke", account_views.token_revoke, name="api-token-revoke"),
]
