"""Admin for wave rules (editable, with spreadsheet import/export) and waves (read here; every
change goes through fulfilment.waves). Imported by fulfilment.admin."""

from django.contrib import admin
from import_export import fields, resources, widgets
from import_export.admin import ImportExportModelAdmin

from fulfilment.admin import ReadOnlyInline  # defined before fulfilment.admin imports this module
from fulfilment.models import Carrier, Wave, WavePick, WaveRule, WaveShipment
from inventory.models import Warehouse


class WaveRuleResource(resources.ModelResource):
    warehouse = fields.Field(
        attribute="warehouse",
        column_name="warehouse",
        widget=widgets.ForeignKeyWidget(Warehouse, field="code"),
    )
    carrier = fields.Field(
        attribute="carrier", column_name="carrier", widget=widgets.ForeignKeyWidget(Carrier, field="code")
    )

    class Meta:
        model = WaveRule
        fields = ("warehouse", "name", "sequence", "carrier", "kind", "cut_off", "max_shipments", "is_active")
        export_order = fields
        import_id_fields = ("warehouse", "name")


@admin.register(WaveRule)
class WaveRuleAdmin(ImportExportModelAdmin):
    resource_classes = [WaveRuleResource]
    list_display = [
        "name",
        "warehouse",
        "sequence",
        "carrier",
        "kind",
        "cut_off",
        "max_shipments",
        "is_active",
    ]
    list_filter = ["warehouse", "kind", "is_active"]
    list_editable = ["is_active"]


class WaveShipmentInline(ReadOnlyInline):
    model = WaveShipment
    fields = ["shipment", "active", "left_out"]
    readonly_fields = fields


class WavePickInline(ReadOnlyInline):
    model = WavePick
    fields = ["bin", "sku", "quantity", "picked", "short"]
    readonly_fields = fields


@admin.register(Wave)
class WaveAdmin(admin.ModelAdmin):
    list_display = ["number", "warehouse", "state", "carrier", "kind", "rule_name", "created_at"]
    list_filter = ["state", "warehouse", "carrier", "kind"]
    search_fields = ["=number", "pickup_reference"]
    list_select_related = ["warehouse", "carrier"]
    inlines = [WaveShipmentInline, WavePickInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
