from django.urls import path

from strategies import views

urlpatterns = [path("", views.plan_list, name="strategy-list")]
