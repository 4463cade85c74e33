"""Admin for purchasing master data: suppliers with their items (import/export of supplier items
by supplier and SKU code), portal logins. Purchase orders are read here; every change goes through
purchasing.services and purchasing.receiving (the desk)."""

from django.contrib import admin
from import_export import fields, resources, widgets
from import_export.admin import ImportExportModelAdmin

from inventory.models import SKU
from purchasing.models import (
    GoodsReceipt,
    GoodsReceiptLine,
    PurchaseEvent,
    PurchaseOrder,
    PurchaseOrderLine,
    ShipmentNotice,
    Supplier,
    SupplierItem,
    SupplierUser,
)


class SupplierItemInline(admin.TabularInline):
    model = SupplierItem
    extra = 0
    raw_id_fields = ["sku"]
    fields = [
        "sku",
        "supplier_code",
        "unit_price",
        "currency",
        "lead_time_days",
        "minimum_quantity",
        "pack_size",
        "is_preferred",
    ]


@admin.register(Supplier)
class SupplierAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "contact_name", "currency", "default_lead_time_days", "is_active"]
    list_filter = ["is_active", "currency"]
    search_fields = ["code", "name", "contact_name"]
    inlines = [SupplierItemInline]


class SupplierItemResource(resources.ModelResource):
    supplier = fields.Field("supplier", "supplier", widgets.ForeignKeyWidget(Supplier, "code"))
    sku = fields.Field("sku", "sku", widgets.ForeignKeyWidget(SKU, "code"))

    class Meta:
        model = SupplierItem
        clean_model_instances = True
        import_id_fields = ["supplier", "sku"]
        fields = [
            "supplier",
            "sku",
            "supplier_code",
            "unit_price",
            "currency",
            "lead_time_days",
            "minimum_quantity",
            "pack_size",
            "is_preferred",
        ]


@admin.register(SupplierItem)
class SupplierItemAdmin(ImportExportModelAdmin):
    resource_classes = [SupplierItemResource]
    list_display = [
        "supplier",
        "sku",
        "supplier_code",
        "unit_price",
        "currency",
        "minimum_quantity",
        "pack_size",
    ]
    list_filter = ["supplier", "is_preferred"]
    search_fields = ["sku__code", "supplier__code", "supplier_code"]
    list_select_related = ["supplier", "sku"]
    raw_id_fields = ["sku"]


@admin.register(SupplierUser)
class SupplierUserAdmin(admin.ModelAdmin):
    list_display = ["user", "supplier"]
    list_select_related = ["user", "supplier"]
    search_fields = ["user__username", "supplier__code"]
    raw_id_fields = ["user"]


class ReadOnly:
    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class PurchaseOrderLineInline(ReadOnly, admin.TabularInline):
    model = PurchaseOrderLine
    extra = 0


class PurchaseEventInline(ReadOnly, admin.TabularInline):
    model = PurchaseEvent
    extra = 0


@admin.register(PurchaseOrder)
class PurchaseOrderAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["number", "supplier", "warehouse", "state", "total_amount", "currency", "expected_on"]
    list_filter = ["state", "supplier", "warehouse"]
    search_fields = ["=number", "supplier__code"]
    list_select_related = ["supplier", "warehouse"]
    date_hierarchy = "created_at"
    inlines = [PurchaseOrderLineInline, PurchaseEventInline]


@admin.register(ShipmentNotice)
class ShipmentNoticeAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["number", "purchase_order", "state", "expected_on", "carrier", "tracking_number"]
    list_filter = ["state"]
    search_fields = ["=number", "=purchase_order__number", "=tracking_number"]


class GoodsReceiptLineInline(ReadOnly, admin.TabularInline):
    model = GoodsReceiptLine
    extra = 0


@admin.register(GoodsReceipt)
class GoodsReceiptAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["number", "purchase_order", "notice", "received_by", "posted_at"]
    search_fields = ["=number", "=purchase_order__number"]
    inlines = [GoodsReceiptLineInline]
