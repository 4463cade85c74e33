from django.urls import path

from returns import views

app_name = "returns"
urlpatterns = [
    path("", views.rma_list, name="list"),
    path("receiving/", views.receiving, name="receiving"),
    path("metrics/", views.metrics, name="metrics"),
    path("new/<str:order_number>/", views.rma_create, name="create"),
    path("<str:number>/", views.rma_detail, name="detail"),
    path("<str:number>/decide/", views.rma_decide, name="decide"),
    path("<str:number>/tracking/", views.rma_tracking, name="tracking"),
    path("<str:number>/receive/", views.rma_receive, name="receive"),
    path("<str:number>/inspect/", views.rma_inspect, name="inspect"),
    path("<str:number>/recheck/", views.rma_recheck, name="recheck"),
    path("<str:number>/refund-paid/", views.refund_confirm, name="refund-confirm"),
    path("<str:number>/attachments/<int:pk>/", views.attachment, name="attachment"),
]
