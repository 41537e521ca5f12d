from django.urls import path

from toolkit import views

urlpatterns = [path("toolkit/source/<int:chunk_id>", views.source, name="toolkit-source")]
