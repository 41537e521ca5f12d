from django.urls import path

from toolkit import views

urlpatterns = [path("", views.chat, name="toolkit-chat")]
