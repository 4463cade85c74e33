from django.urls import path

from desk import alerts as desk

app_name = "alerts"
urlpatterns = [
    path("", desk.alert_list, name="list"),
    path("<int:pk>/acknowledge/", desk.alert_acknowledge_view, name="acknowledge"),
    path("<int:pk>/resolve/", desk.alert_resolve_view, name="resolve"),
    path("<int:pk>/take/", desk.alert_take_view, name="take"),
]
