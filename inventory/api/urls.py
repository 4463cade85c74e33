from django.urls import path

from inventory.api.views import LockCreateView, LockReleaseView, MovementCreateView, StockView

urlpatterns = [
    path("stock/", StockView.as_view(), name="stock"),
    path("stock/movements/", MovementCreateView.as_view(), name="stock-movements"),
    path("stock/locks/", LockCreateView.as_view(), name="stock-locks"),
    path("stock/locks/release/", LockReleaseView.as_view(), name="stock-locks-release"),
]
