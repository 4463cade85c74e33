from importlib.util import find_spec

from django.urls import include, path

from inventory.desk import transfers, unmapped, views

try:
    from inventory.desk import cycle_count_urls
except ImportError:
    # Cycle counts ship separately; the stock screens must work before (or without) them.
    # A module that exists but fails to import is a bug to surface, not to hide.
    if find_spec("inventory.desk.cycle_count_urls") is not None:
        raise
    cycle_count_urls = None

app_name = "inventory"
urlpatterns = [
    path("", views.stock_overview, name="stock"),
    path("sku/<path:code>/ledger/", views.sku_ledger, name="ledger"),
    path("sku/<path:code>/change/", views.sku_stock_change, name="stock-change"),
    path("sku/<path:code>/qc-release/", views.sku_qc_release, name="qc-release"),
    path("pools/", views.pool_list, name="pools"),
    path("pools/transfer/", views.stock_transfer, name="transfer"),
    path("transfers/", transfers.transfer_list, name="transfer-list"),
    path("transfers/new/", transfers.transfer_create, name="transfer-create"),
    path("transfers/<str:number>/", transfers.transfer_detail, name="transfer-detail"),
    path("transfers/<str:number>/ship/", transfers.transfer_ship, name="transfer-ship"),
    path("transfers/<str:number>/cancel/", transfers.transfer_cancel, name="transfer-cancel"),
    path("transfers/<str:number>/receive/", transfers.transfer_receive, name="transfer-receive"),
    path("transfers/<str:number>/scan/", transfers.transfer_scan, name="transfer-scan"),
    path("transfers/<str:number>/close/", transfers.transfer_close, name="transfer-close"),
    path("breakers/", views.breaker_list, name="breakers"),
    path("breakers/<path:code>/resume/", views.breaker_resume_view, name="breaker-resume"),
    path("replenishment/", views.replenishment_list, name="replenishment"),
    path("replenishment/export.xlsx", views.replenishment_export, name="replenishment-export"),
    path("unmapped/", unmapped.unmapped_queue, name="unmapped"),
    path("unmapped/map/", unmapped.unmapped_map, name="unmapped-map"),
    path("unmapped/sku-search/", unmapped.unmapped_sku_search, name="unmapped-sku-search"),
]
if cycle_count_urls is not None:
    urlpatterns.append(path("counts/", include("inventory.desk.cycle_count_urls")))
