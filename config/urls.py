from django.contrib import admin
from django.contrib.auth.views import LogoutView
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core.auth import ThrottledAdminAuthenticationForm
from core.views import stored_file
from desk.views import DeskLoginView, home, saved_view_delete_view, saved_view_save_view
from finance.api import urls as finance_api
from inventory.api import urls as inventory_api
from ops import views as ops_views
from orders.api import urls as orders_api

# The admin signs in through the same throttle as the desk, and says so when it refuses.
admin.site.login_form = ThrottledAdminAuthenticationForm
# The admin is Conduit's master-data screen, not "Django administration".
admin.site.site_header = _("Conduit administration")
admin.site.site_title = _("Conduit")
admin.site.index_title = _("Master data")

desk_patterns = ([path("", home, name="home")], "desk")
saved_view_patterns = (
    [
        path("save/", saved_view_save_view, name="save"),
        path("<int:pk>/delete/", saved_view_delete_view, name="delete"),
    ],
    "saved-views",
)

# The API first and as one include: Django tries patterns in order, and an include whose prefix
# matches but whose patterns do not (the desk's, or one API app's before the next) costs a list of
# every pattern it tried — a tenth of a checkout lock request's CPU (issue #18). Stock first: its
# four plain routes cost little to pass, and the checkout lock is the hottest path.
api_patterns = [*inventory_api.urlpatterns, *orders_api.urlpatterns, *finance_api.urlpatterns]

urlpatterns = [
    path("api/v1/", include(api_patterns)),
    path("", include(desk_patterns)),
    path("login/", DeskLoginView.as_view(), name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("orders/", include("orders.desk.urls")),
    path("stock/", include("inventory.desk.urls")),
    path("fulfilment/", include("fulfilment.urls")),
    path("returns/", include("returns.urls")),
    path("purchasing/", include("purchasing.urls")),
    path("supplier/", include("purchasing.portal_urls")),  # suppliers see their own purchase orders
    path("b2b/", include("b2b.urls")),
    path("r/", include("returns.self_service_urls")),  # the customer's signed return link
    path("dashboard/", include("dashboard.urls")),
    path("alerts/", include("desk.alert_urls")),
    path("ops/", include("ops.urls")),
    path("health/", ops_views.health, name="health"),  # no sign-in: for monitors
    path("health/live/", ops_views.liveness, name="health-live"),  # for load balancers
    path("views/", include(saved_view_patterns)),
    path("finance/", include("finance.urls")),
    path("integrations/desk/", include("integrations.desk.urls")),
    path("integrations/", include("integrations.urls")),
    path("admin/", admin.site.urls),
    path("files/<path:name>", stored_file, name="stored-file"),  # uploads kept in the database
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

# On /api/ paths Django's own errors answer in JSON too (core/api/handlers.py).
handler400 = "core.api.handlers.bad_request"
handler404 = "core.api.handlers.page_not_found"
handler500 = "core.api.handlers.server_error"
