from django.urls import path

from integrations import views

app_name = "integrations"

urlpatterns = [
    path("webhooks/<slug:platform>/<slug:channel_code>/", views.platform_webhook, name="webhook"),
]
