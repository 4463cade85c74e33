from django.urls import path

from inventory.api.views import MovementCreateView, StockView

urlpatterns = [
    path("stock/", StockView.as_view(), name="stock"),
    path("stock/movements/", MovementCreateView.as_view(), name="stock-movements"),
]
