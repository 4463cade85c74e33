from django.urls import path

from returns import self_service_views as self_service

app_name = "returns_self_service"
urlpatterns = [
    path("<str:token>/", self_service.start, name="start"),
    path("<str:token>/<str:number>/tracking/", self_service.tracking, name="tracking"),
]
