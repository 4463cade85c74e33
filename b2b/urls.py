from django.urls import path

from b2b import views

app_name = "b2b"
urlpatterns = [
    path("accounts/", views.account_list, name="accounts"),
    path("accounts/<slug:code>/", views.account_detail, name="account"),
    path("contracts/", views.contract_list, name="contracts"),
    path("contracts/new/", views.contract_create, name="contract-create"),
    path("contracts/<str:number>/", views.contract_detail, name="contract"),
    path("contracts/<str:number>/edit/", views.contract_edit, name="contract-edit"),
    path("contracts/<str:number>/action/", views.contract_action, name="contract-action"),
    path("contracts/<str:number>/resplit/", views.schedule_resplit, name="resplit"),
    path("contracts/<str:number>/cancel-rest/", views.schedule_cancel_rest, name="cancel-rest"),
    path("contracts/<str:number>/deliveries/<int:delivery_id>/move/", views.delivery_move, name="move"),
    path(
        "contracts/<str:number>/deliveries/<int:delivery_id>/release/", views.delivery_release, name="release"
    ),
]
