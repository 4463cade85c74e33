"""Desk screens for fulfilment: the warehouse's shipment work and the watches over carriers."""

from django.urls import path

from fulfilment import grouping_views, print_views, warehouse_views, watch_views, wave_views, waybill_views
from orders.desk import views as order_views

app_name = "fulfilment"
urlpatterns: list = [
    # own-warehouse desk
    path("shipments/", warehouse_views.shipment_list, name="shipments"),
    path("shipments/pick-list/", warehouse_views.pick_list, name="pick-list"),
    path("shipments/start-picking/", warehouse_views.start_picking, name="start-picking"),
    path("shipments/print/labels/", print_views.print_labels, name="print-labels"),
    path("shipments/print/slips/", print_views.print_packing_slips, name="print-slips"),
    path("shipments/<str:number>/", warehouse_views.shipment_detail, name="shipment"),
    path("shipments/<str:number>/split/", grouping_views.shipment_split, name="shipment-split"),
    path("shipments/<str:number>/scan/", warehouse_views.shipment_scan, name="shipment-scan"),
    path("shipments/<str:number>/ship/", warehouse_views.shipment_ship, name="shipment-ship"),
    path(
        "shipments/<str:number>/waybill/", warehouse_views.shipment_request_waybill, name="shipment-waybill"
    ),
    path("waybills/failed/", waybill_views.failed_waybill_list, name="waybills-failed"),
    path("waybills/retry/", waybill_views.retry_waybills, name="waybills-retry"),
    path("wms-snapshots/", warehouse_views.wms_snapshot_list, name="wms-snapshots"),
    # waves: pick by bin path, pack with weight, hand over (handheld screens)
    path("waves/", wave_views.wave_list, name="waves"),
    path("waves/create/", wave_views.wave_create, name="wave-create"),
    path("waves/<str:number>/", wave_views.wave_detail, name="wave"),
    path("waves/<str:number>/start/", wave_views.wave_start, name="wave-start"),
    path("waves/<str:number>/pick/", wave_views.wave_pick, name="wave-pick"),
    path("waves/<str:number>/pick/scan/", wave_views.wave_pick_scan, name="wave-pick-scan"),
    path("waves/<str:number>/pack/", wave_views.wave_pack, name="wave-pack"),
    path("waves/<str:number>/pack/scan/", wave_views.wave_pack_scan, name="wave-pack-scan"),
    path("waves/<str:number>/pack/weigh/", wave_views.wave_weigh, name="wave-weigh"),
    path("waves/<str:number>/hand-over/", wave_views.wave_hand_over, name="wave-hand-over"),
    path("waves/<str:number>/pickup/", wave_views.wave_pickup, name="wave-pickup"),
    # routing an order (the order page's Shipments panel)
    path("orders/<str:number>/route/", order_views.order_route, name="order-route"),
    path("orders/<str:number>/merge/", grouping_views.order_merge, name="order-merge"),
    # watches over carriers and SLAs
    path("watches/no-first-scan/", watch_views.no_first_scan, name="no-first-scan"),
    path("watches/carriers/", watch_views.carrier_stats, name="carrier-stats"),
    path("watches/sla/", watch_views.sla_overview, name="sla"),
]
