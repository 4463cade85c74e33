from django.urls import path

from purchasing.desk import receiving, views

app_name = "purchasing"
urlpatterns = [
    path("", views.order_list, name="orders"),
    path("new/", views.order_create, name="order-create"),
    path("from-suggestions/", views.from_suggestions, name="from-suggestions"),
    path("orders/<str:number>/", views.order_detail, name="order"),
    path("orders/<str:number>/edit/", views.order_edit, name="order-edit"),
    path("orders/<str:number>/<slug:action>/", views.order_action, name="order-action"),
    path("suppliers/", views.supplier_list, name="suppliers"),
    path("suppliers/<slug:code>/", views.supplier_detail, name="supplier"),
    path("receiving/", receiving.expected, name="receiving"),
    path("receiving/start/", receiving.start, name="receiving-start"),
    path("receiving/<str:number>/", receiving.receipt, name="receipt"),
    path("receiving/<str:number>/scan/", receiving.scan, name="receipt-scan"),
    path("receiving/<str:number>/counts/", receiving.counts, name="receipt-counts"),
    path("receiving/<str:number>/post/", receiving.post, name="receipt-post"),
]
