from django.urls import path, re_path

from dashboard import views

app_name = "dashboard"
urlpatterns = [
    path("", views.dashboard, name="home"),
    re_path(r"^(?P<key>[a-z_]+)\.(?P<fmt>csv|xlsx)$", views.panel_download, name="download"),
]
