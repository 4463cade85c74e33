"""Admin for fulfilment master data and rules (R-D4). Shipments are read here; every change goes
through the fulfilment services (desk, WMS and carrier callbacks)."""

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from import_export import fields, resources, widgets
from import_export.admin import ImportExportModelAdmin

from core.forms import WriteOnlyJSONObjectField
from fulfilment.models import (
    Carrier,
    CarrierRule,
    Notification,
    RoutingPolicy,
    Shipment,
    ShipmentLine,
    ShippingRate,
    SlaRule,
    TrackingEvent,
    WaybillRequest,
)
from integrations.models import Channel


class CarrierForm(forms.ModelForm):
    waybill_credentials_json = WriteOnlyJSONObjectField(
        label=_("Waybill account (JSON)"),
        help_text=_("Write-only: partner id, key… as a JSON object; leave empty to keep the current one."),
    )

    class Meta:
        model = Carrier
        fields = ["code", "name", "tracking_code", "first_scan_minutes", "is_active"]

    def save(self, commit=True):
        if self.cleaned_data.get("waybill_credentials_json") is not None:
            self.instance.waybill_credentials = self.cleaned_data["waybill_credentials_json"]
        return super().save(commit=commit)


class CarrierResource(resources.ModelResource):
    class Meta:
        model = Carrier
        import_id_fields = ["code"]
        fields = ["code", "name", "tracking_code", "first_scan_minutes", "is_active"]  # never credentials


@admin.register(Carrier)
class CarrierAdmin(ImportExportModelAdmin):
    form = CarrierForm
    resource_classes = [CarrierResource]
    list_display = ["code", "name", "tracking_code", "first_scan_minutes", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["code", "name"]


class CarrierRuleResource(resources.ModelResource):
    channel = fields.Field("channel", "channel", widgets.ForeignKeyWidget(Channel, "code"))
    carrier = fields.Field("carrier", "carrier", widgets.ForeignKeyWidget(Carrier, "code"))
    backup_carrier = fields.Field(
        "backup_carrier", "backup_carrier", widgets.ForeignKeyWidget(Carrier, "code")
    )

    class Meta:
        model = CarrierRule
        clean_model_instances = True
        import_id_fields = ["name"]
        fields = [
            "name",
            "priority",
            "channel",
            "provinces",
            "cities",
            "min_weight_grams",
            "max_weight_grams",
            "min_amount",
            "max_amount",
            "currency",
            "sku_codes",
            "order_tags",
            "cod",
            "carrier",
            "backup_carrier",
            "is_active",
        ]


@admin.register(CarrierRule)
class CarrierRuleAdmin(ImportExportModelAdmin):
    """快递策略: tried by ascending priority at release to an own warehouse (fulfilment.carrier_rules);
    the first rule whose every condition holds picks the carrier, its backup is tried once when the
    carrier refuses the waybill."""

    resource_classes = [CarrierRuleResource]
    list_display = ["priority", "name", "channel", "carrier", "backup_carrier", "cod", "is_active"]
    list_display_links = ["name"]
    list_editable = ["is_active"]
    list_filter = ["is_active", "channel", "carrier", "cod"]
    search_fields = ["name", "carrier__code", "carrier__name"]
    list_select_related = ["channel", "carrier", "backup_carrier"]
    ordering = ["priority", "id"]


class ShippingRateResource(resources.ModelResource):
    class Meta:
        model = ShippingRate
        clean_model_instances = True
        import_id_fields = ["warehouse", "province"]
        fields = ["warehouse", "province", "cost", "currency", "days"]


@admin.register(ShippingRate)
class ShippingRateAdmin(ImportExportModelAdmin):
    resource_classes = [ShippingRateResource]
    list_display = ["warehouse", "province", "cost", "currency", "days"]
    list_filter = ["warehouse"]
    search_fields = ["province", "warehouse__code"]
    list_select_related = ["warehouse"]


@admin.register(RoutingPolicy)
class RoutingPolicyAdmin(admin.ModelAdmin):
    list_display = ["name", "channel", "strategies", "allow_split", "merge_open_orders", "store_geofence_km"]
    list_select_related = ["channel"]


@admin.register(SlaRule)
class SlaRuleAdmin(ImportExportModelAdmin):
    list_display = [
        "name",
        "status",
        "hours",
        "role",
        "escalate_after_minutes",
        "escalate_to",
        "channel",
        "is_active",
    ]
    list_filter = ["is_active", "status", "role"]
    list_editable = ["is_active"]


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ShipmentLineInline(ReadOnlyInline):
    model = ShipmentLine
    fields = ["order_line", "sku", "quantity", "packed_quantity"]
    readonly_fields = fields


class TrackingEventInline(ReadOnlyInline):
    model = TrackingEvent
    fields = ["occurred_at", "status", "carrier_status", "description", "location", "source"]
    readonly_fields = fields


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Shipment)
class ShipmentAdmin(ReadOnlyAdmin):
    list_display = ["number", "order", "warehouse", "status", "carrier", "tracking_number", "created_at"]
    list_filter = ["status", "warehouse", "carrier", "presale"]
    search_fields = ["=number", "=tracking_number", "=order__number"]
    list_select_related = ["order", "warehouse", "carrier"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    inlines = [ShipmentLineInline, TrackingEventInline]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["order", "event", "medium", "recipient", "state", "created_at", "sent_at"]
    list_filter = ["event", "medium", "state"]
    search_fields = ["=order__number", "recipient"]
    list_select_related = ["order"]
    show_full_result_count = False


from fulfilment import wave_admin  # noqa: E402, F401  (wave rules and waves, issue #17 part 4)


@admin.register(WaybillRequest)
class WaybillRequestAdmin(ReadOnlyAdmin):
    """Read-only: requests move through fulfilment.waybills; failed ones are retried from the desk
    ("Waybills failed" under /fulfilment/)."""

    list_display = ["shipment", "source", "carrier", "state", "attempt", "error", "updated_at"]
    list_filter = ["state", "source", "carrier"]
    search_fields = ["=shipment__number"]
    list_select_related = ["shipment", "carrier"]
