from django.urls import path

from orders.desk import views

app_name = "orders"
urlpatterns = [
    path("", views.order_list, name="list"),
    path("sku-search/", views.sku_search, name="sku-search"),
    path("<str:number>/", views.order_detail, name="detail"),
    path("<str:number>/action/", views.order_action, name="action"),
    path("<str:number>/note/", views.order_note, name="note"),
    path("<str:number>/priority/", views.order_priority, name="priority"),
    path("<str:number>/address/", views.order_address, name="address"),
    path("<str:number>/cancel-lines/", views.order_cancel_lines, name="cancel-lines"),
    path("<str:number>/edit-lines/", views.order_edit_lines, name="edit-lines"),
    path("<str:number>/notifications/resend/", views.order_notification_resend, name="notification-resend"),
]
