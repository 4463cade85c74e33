from django.contrib import admin
from django.contrib.auth.views import LogoutView
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from desk.views import DeskLoginView, home, saved_view_delete_view, saved_view_save_view

desk_patterns = ([path("", home, name="home")], "desk")
saved_view_patterns = (
    [
        path("save/", saved_view_save_view, name="save"),
        path("<int:pk>/delete/", saved_view_delete_view, name="delete"),
    ],
    "saved-views",
)

urlpatterns = [
    path("", include(desk_patterns)),
    path("login/", DeskLoginView.as_view(), name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("orders/", include("orders.desk.urls")),
    path("stock/", include("inventory.desk.urls")),
    path("fulfilment/", include("fulfilment.urls")),
    path("returns/", include("returns.urls")),
    path("r/", include("returns.self_service_urls")),  # the customer's signed return link
    path("dashboard/", include("dashboard.urls")),
    path("alerts/", include("desk.alert_urls")),
    path("views/", include(saved_view_patterns)),
    path("finance/", include("finance.urls")),
    path("integrations/desk/", include("integrations.desk.urls")),
    path("integrations/", include("integrations.urls")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include("orders.api.urls")),
    path("api/v1/", include("inventory.api.urls")),
    path("api/v1/", include("finance.api.urls")),
]
