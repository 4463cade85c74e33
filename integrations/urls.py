from django.urls import path

from integrations import views
from integrations.carriers import views as carrier_views
from integrations.wms import views as wms_views

app_name = "integrations"

urlpatterns = [
    path("webhooks/<slug:platform>/<slug:channel_code>/", views.platform_webhook, name="webhook"),
    path("wms/qimen/<slug:warehouse_code>/", wms_views.qimen_callback, name="wms-qimen"),
    path("carriers/kuaidi100/callback/", carrier_views.kuaidi100_callback, name="kuaidi100-callback"),
]
