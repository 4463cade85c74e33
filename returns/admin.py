"""Returns master data (policies, exclusions) is edited here; RMAs and refunds are written by
the returns services only (opening, decisions, logistics, inspection, disposition, refunds), so
the admin shows them read-only."""

from django.contrib import admin

from returns.models import ReturnExclusion, ReturnLine, ReturnPolicy, ReturnRefund, ReturnRequest


@admin.register(ReturnPolicy)
class ReturnPolicyAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "window_days",
        "auto_approve",
        "manual_approval",
        "damaged_refund_percent",
        "restocking_fee_percent",
        "refund_shipping_on_seller_fault",
    )
    list_select_related = ("channel",)


@admin.register(ReturnExclusion)
class ReturnExclusionAdmin(admin.ModelAdmin):
    list_display = ("__str__", "channel", "reason", "is_active")
    list_filter = ("is_active", "channel")
    search_fields = ("sku__code", "sku_prefix", "reason")
    list_select_related = ("sku", "channel")
    raw_id_fields = ("sku",)


class ReadOnly:
    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReturnLineInline(ReadOnly, admin.TabularInline):
    model = ReturnLine
    extra = 0


@admin.register(ReturnRequest)
class ReturnRequestAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("number", "order", "status", "kind", "reason", "source", "created_at")
    list_filter = ("status", "kind", "reason", "source")
    search_fields = ("=number", "=order__number", "=return_tracking_number", "=external_ref")
    list_select_related = ("order",)
    date_hierarchy = "created_at"
    inlines = [ReturnLineInline]


@admin.register(ReturnRefund)
class ReturnRefundAdmin(ReadOnly, admin.ModelAdmin):
    list_display = (
        "rma",
        "order",
        "amount",
        "currency",
        "provider",
        "state",
        "provider_reference",
        "created_at",
    )
    list_filter = ("provider", "state", "currency")
    search_fields = ("=rma__number", "=order__number", "=provider_reference")
    list_select_related = ("rma", "order")
