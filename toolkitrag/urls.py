from django.contrib import admin
from django.urls import include, path

from accounts.views import auth_rate_limit
from rag.admin import analytics_urls
from toolkitrag import views

admin.site.site_header = "ToolkitRAG administration"
admin.site.site_title = "ToolkitRAG admin"

urlpatterns = [
    path("", views.home, name="home"),
    path("health", views.health, name="health"),
    path("ready", views.ready, name="ready"),
    path("auth/", include("accounts.urls")),
    path("", include("rag.urls")),
    path("", include("toolkit.urls")),
    path("", include("strategies.urls")),
    # The admin login gets the same per-IP limit as ours (django-axes guards both already).
    path("admin/login/", auth_rate_limit(admin.site.login)),
    path("admin/analytics/", include(analytics_urls)),
    path("admin/", admin.site.urls),
]

handler400 = "toolkitrag.views.bad_request"
handler404 = "toolkitrag.views.page_not_found"
handler500 = "toolkitrag.views.server_error"
