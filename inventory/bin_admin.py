"""Admin for bin locations and the units recorded in them (issue #17 part 4), with spreadsheet
import and export: a warehouse's bins (code, zone, pick sequence), and a bin count — one row
per bin and SKU — setting what the floor recorded there. Imported by inventory.admin."""

from django.contrib import admin
from django.utils.translation import gettext
from import_export import fields, resources, widgets
from import_export.admin import ImportExportModelAdmin

from inventory.models import SKU, BinLocation, BinStock, Warehouse


def _text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return "" if value is None else str(value).strip()


class BinWidget(widgets.ForeignKeyWidget):
    """A bin named by its code within the row's warehouse (bin codes repeat across warehouses)."""

    def __init__(self):
        super().__init__(BinLocation, field="code")

    def clean(self, value, row=None, **kwargs):
        code, warehouse = _text(value), _text((row or {}).get("warehouse"))
        if not code or not warehouse:
            raise ValueError(gettext("Name the warehouse and the bin by their codes."))
        found = BinLocation.objects.filter(warehouse__code=warehouse, code__iexact=code).first()
        if found is None:
            raise ValueError(
                gettext("No bin %(bin)s in warehouse %(warehouse)s.") % {"bin": code, "warehouse": warehouse}
            )
        return found


class BinLocationResource(resources.ModelResource):
    warehouse = fields.Field(
        attribute="warehouse",
        column_name="warehouse",
        widget=widgets.ForeignKeyWidget(Warehouse, field="code"),
    )

    class Meta:
        model = BinLocation
        fields = ("warehouse", "code", "zone", "pick_sequence", "is_active")
        export_order = fields
        import_id_fields = ("warehouse", "code")
        skip_unchanged = True
        report_skipped = True

    def get_queryset(self):
        return BinLocation.objects.select_related("warehouse").order_by(
            "warehouse__code", "pick_sequence", "code"
        )


class BinStockResource(resources.ModelResource):
    warehouse = fields.Field(attribute="bin__warehouse__code", column_name="warehouse", readonly=True)
    bin = fields.Field(attribute="bin", column_name="bin", widget=BinWidget())
    sku = fields.Field(attribute="sku", column_name="sku", widget=widgets.ForeignKeyWidget(SKU, field="code"))
    quantity = fields.Field(attribute="quantity", column_name="quantity", widget=widgets.IntegerWidget())

    class Meta:
        model = BinStock
        fields = ("warehouse", "bin", "sku", "quantity")
        export_order = fields
        import_id_fields = ("bin", "sku")
        skip_unchanged = True
        report_skipped = True

    def get_queryset(self):
        return BinStock.objects.select_related("bin__warehouse", "sku").order_by(
            "bin__warehouse__code", "bin__pick_sequence", "bin__code", "sku__code"
        )


@admin.register(BinLocation)
class BinLocationAdmin(ImportExportModelAdmin):
    resource_classes = [BinLocationResource]
    list_display = ["code", "warehouse", "zone", "pick_sequence", "is_active"]
    list_filter = ["warehouse", "zone", "is_active"]
    search_fields = ["code", "zone"]
    ordering = ["warehouse", "pick_sequence", "code"]


@admin.register(BinStock)
class BinStockAdmin(ImportExportModelAdmin):
    """The floor's record of what is in which bin; the ledger keeps the warehouse's totals."""

    resource_classes = [BinStockResource]
    list_display = ["bin", "sku", "quantity", "updated_at"]
    list_filter = ["bin__warehouse"]
    search_fields = ["bin__code", "sku__code", "sku__barcode"]
    list_select_related = ["bin__warehouse", "sku"]
    autocomplete_fields = ["sku"]
