"""The supplier portal, mounted at /supplier/ (config/urls.py): a supplier's login sees its own
purchase orders and shipment notices here and nothing else (purchasing.portal_guard)."""

from django.urls import path

from purchasing import portal_views as views

app_name = "supplier_portal"
urlpatterns = [
    path("", views.home, name="home"),
    path("orders/", views.order_list, name="orders"),
    path("orders/<str:number>/", views.order_detail, name="order"),
    path("orders/<str:number>/confirm/", views.order_confirm, name="order-confirm"),
    path("orders/<str:number>/propose/", views.order_propose, name="order-propose"),
    path("orders/<str:number>/announce/", views.notice_announce, name="notice-announce"),
    path("notices/", views.notice_list, name="notices"),
    path("notices/<str:number>/", views.notice_detail, name="notice"),
    path("notices/<str:number>/cancel/", views.notice_cancel, name="notice-cancel"),
]
