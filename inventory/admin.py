from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from import_export import resources
from import_export.admin import ExportMixin, ImportExportModelAdmin

from inventory.models import (
    SKU,
    ChannelPool,
    CycleCount,
    CycleCountLine,
    Lot,
    ReleaseBreaker,
    ReplenishmentSuggestion,
    Reservation,
    SafetyStock,
    StockBalance,
    StockMovement,
    StockPool,
    Warehouse,
)


class WarehouseResource(resources.ModelResource):
    class Meta:
        model = Warehouse
        import_id_fields = ["code"]
        exclude = ["id", "created_at", "updated_at", "wms_secret"]  # secrets never leave by export


class SKUResource(resources.ModelResource):
    class Meta:
        model = SKU
        import_id_fields = ["code"]
        exclude = ["id", "created_at", "updated_at"]


class WarehouseForm(forms.ModelForm):
    wms_endpoint = forms.URLField(label=_("WMS endpoint"), required=False, assume_scheme="https")
    wms_secret = forms.CharField(
        label=_("WMS secret"),
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("Write-only: leave empty to keep the current secret."),
    )

    class Meta:
        model = Warehouse
        fields = [
            "code",
            "name",
            "kind",
            "country",
            "province",
            "city",
            "district",
            "address_line",
            "postcode",
            "latitude",
            "longitude",
            "service_regions",
            "default_carrier",
            "wms_protocol",
            "wms_endpoint",
            "wms_customer_id",
            "wms_owner_code",
            "wms_app_key",
            "wms_secret",
            "is_active",
        ]

    def clean_wms_secret(self):
        return self.cleaned_data["wms_secret"] or self.instance.wms_secret


@admin.register(Warehouse)
class WarehouseAdmin(ImportExportModelAdmin):
    form = WarehouseForm
    resource_classes = [WarehouseResource]
    list_display = ["code", "name", "kind", "province", "city", "wms_protocol", "is_active"]
    list_filter = ["kind", "is_active", "province"]
    search_fields = ["code", "name", "city"]


@admin.register(SKU)
class SKUAdmin(ImportExportModelAdmin):
    resource_classes = [SKUResource]
    list_display = ["code", "name", "barcode", "presale", "lot_tracked", "is_active"]
    list_filter = ["presale", "lot_tracked", "is_active"]
    search_fields = ["code", "name", "barcode"]


@admin.register(StockPool)
class StockPoolAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "kind", "is_default"]


@admin.register(ChannelPool)
class ChannelPoolAdmin(admin.ModelAdmin):
    list_display = ["channel", "pool", "priority"]
    list_filter = ["pool", "channel"]


class SafetyStockResource(resources.ModelResource):
    class Meta:
        model = SafetyStock
        import_id_fields = ["sku", "channel"]
        fields = ["sku", "channel", "quantity"]


@admin.register(SafetyStock)
class SafetyStockAdmin(ImportExportModelAdmin):
    resource_classes = [SafetyStockResource]
    list_display = ["sku", "channel", "quantity"]
    list_filter = ["channel"]
    search_fields = ["sku__code"]
    autocomplete_fields = ["sku"]


@admin.register(Lot)
class LotAdmin(admin.ModelAdmin):
    list_display = ["code", "sku", "expires_on"]
    search_fields = ["code", "sku__code"]
    date_hierarchy = "expires_on"


class ReadOnlyAdmin(admin.ModelAdmin):
    """Quantities change only through the inventory services: read here, never edited."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(StockBalance)
class StockBalanceAdmin(ExportMixin, ReadOnlyAdmin):
    list_display = ["sku", "warehouse", "pool", "lot", "on_hand", "reserved", "qc_hold", "updated_at"]
    list_filter = ["warehouse", "pool"]
    search_fields = ["sku__code"]
    list_select_related = ["sku", "warehouse", "pool", "lot"]


@admin.register(StockMovement)
class StockMovementAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "kind",
        "sku",
        "balance",
        "on_hand_delta",
        "reserved_delta",
        "qc_hold_delta",
        "reference",
        "order",
    ]
    list_filter = ["kind"]
    search_fields = ["=sku__code", "=reference"]
    list_select_related = ["sku", "balance", "order"]
    show_full_result_count = False


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdmin):
    list_display = ["fingerprint", "order", "sku", "quantity", "original_quantity", "state", "expires_at"]
    list_filter = ["state"]
    search_fields = ["=fingerprint", "=order__number", "=sku__code"]
    list_select_related = ["order", "sku"]
    show_full_result_count = False


@admin.register(ReleaseBreaker)
class ReleaseBreakerAdmin(ReadOnlyAdmin):
    list_display = ["sku", "is_open", "tripped_at", "resumed_at", "resumed_by"]
    list_filter = ["is_open"]


class ReplenishmentResource(resources.ModelResource):
    class Meta:
        model = ReplenishmentSuggestion
        fields = [
            "computed_on",
            "sku__code",
            "sku__name",
            "available",
            "average_daily_sales",
            "days_of_cover",
            "suggested_quantity",
        ]


@admin.register(ReplenishmentSuggestion)
class ReplenishmentSuggestionAdmin(ExportMixin, ReadOnlyAdmin):
    resource_classes = [ReplenishmentResource]
    list_display = [
        "computed_on",
        "sku",
        "available",
        "average_daily_sales",
        "days_of_cover",
        "suggested_quantity",
    ]
    list_filter = ["computed_on"]
    search_fields = ["sku__code"]


class CycleCountLineInline(admin.TabularInline):
    model = CycleCountLine
    extra = 0
    can_delete = False
    readonly_fields = ["row_number", "sku", "lot", "pool", "system_quantity", "counted_quantity"]
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(CycleCount)
class CycleCountAdmin(ReadOnlyAdmin):
    list_display = ["pk", "warehouse", "state", "created_by", "created_at", "approved_by"]
    list_filter = ["state", "warehouse"]
    inlines = [CycleCountLineInline]
