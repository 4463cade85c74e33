from django.contrib import admin
from import_export import resources
from import_export.admin import ImportExportModelAdmin

from inventory.models import SKU, Warehouse


class WarehouseResource(resources.ModelResource):
    class Meta:
        model = Warehouse
        import_id_fields = ["code"]
        exclude = ["id", "created_at", "updated_at"]


class SKUResource(resources.ModelResource):
    class Meta:
        model = SKU
        import_id_fields = ["code"]
        exclude = ["id", "created_at", "updated_at"]


@admin.register(Warehouse)
class WarehouseAdmin(ImportExportModelAdmin):
    resource_classes = [WarehouseResource]
    list_display = ["code", "name", "kind", "province", "city", "is_active"]
    list_filter = ["kind", "is_active", "province"]
    search_fields = ["code", "name", "city"]


@admin.register(SKU)
class SKUAdmin(ImportExportModelAdmin):
    resource_classes = [SKUResource]
    list_display = ["code", "name", "barcode", "presale", "lot_tracked", "is_active"]
    list_filter = ["presale", "lot_tracked", "is_active"]
    search_fields = ["code", "name", "barcode"]
