from django.urls import path

from strategies import api, views

urlpatterns = [
    path("strategies", views.plan_list, name="strategy-list"),
    path("strategies/new", views.plan_create, name="strategy-create"),
    path("strategies/<int:plan_id>", views.plan_detail, name="strategy-detail"),
    path("strategies/<int:plan_id>/edit", views.plan_edit, name="strategy-edit"),
    path("strategies/<int:plan_id>/delete", views.plan_delete, name="strategy-delete"),
    path("strategies/<int:plan_id>/duplicate", views.plan_duplicate, name="strategy-duplicate"),
    path("strategies/<int:plan_id>/export.<str:extension>", views.plan_export, name="strategy-export"),
    path("strategies/<int:plan_id>/items/new", views.item_create, name="strategy-item-create"),
    path("strategies/<int:plan_id>/items/<int:item_id>/edit", views.item_edit, name="strategy-item-edit"),
    path(
        "strategies/<int:plan_id>/items/<int:item_id>/delete", views.item_delete, name="strategy-item-delete"
    ),
    path("strategies/<int:plan_id>/items/<int:item_id>/move", views.item_move, name="strategy-item-move"),
    path("strategies/add-answer/<int:message_id>", views.add_answer, name="strategy-add-answer"),
    path("api/plans/", api.plan_collection, name="api-plans"),
    path("api/plans/<int:plan_id>/", api.plan_detail, name="api-plan"),
    path("api/plans/<int:plan_id>/duplicate", api.plan_duplicate, name="api-plan-duplicate"),
    path("api/plans/<int:plan_id>/items/", api.item_collection, name="api-plan-items"),
    path("api/plans/<int:plan_id>/items/order", api.item_order, name="api-plan-item-order"),
    path("api/plans/<int:plan_id>/items/<int:item_id>/", api.item_detail, name="api-plan-item"),
]
