from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from import_export import resources
from import_export.admin import ExportMixin, ImportExportModelAdmin

from core.errors import DomainError
from orders import services
from orders.models import Customer, GiftRule, Order, OrderEvent, OrderLine, ReceiverDecryption, ReviewRule


class CustomerResource(resources.ModelResource):
    class Meta:
        model = Customer
        import_id_fields = ["identity_key"]
        fields = ["identity_key", "name", "phone", "email", "is_vip"]


@admin.register(Customer)
class CustomerAdmin(ImportExportModelAdmin):
    resource_classes = [CustomerResource]
    list_display = ["name", "phone", "email", "is_vip", "order_count", "last_order_at"]
    list_filter = ["is_vip"]
    search_fields = ["=phone", "=email", "name"]
    readonly_fields = ["order_count", "last_order_at"]


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    can_delete = False
    readonly_fields = [
        "line_no",
        "kind",
        "parent_line",
        "gift_rule",
        "sku",
        "quantity",
        "cancelled_quantity",
        "unit_price",
        "discount",
        "presale",
    ]

    def has_add_permission(self, request, obj=None):
        return False


class OrderEventInline(admin.TabularInline):
    model = OrderEvent
    extra = 0
    can_delete = False
    readonly_fields = ["created_at", "kind", "actor", "from_status", "to_status", "reason", "payload"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class OrderResource(resources.ModelResource):
    class Meta:
        model = Order
        fields = [
            "number",
            "channel__code",
            "external_id",
            "status",
            "priority",
            "customer_name",
            "customer_phone",
            "currency",
            "total",
            "placed_at",
            "paid_at",
        ]


def _bulk_transition(name: str, label):
    def run(modeladmin, request, queryset):
        done = 0
        for order in queryset.order_by("pk"):
            try:
                services.order_transition(
                    order=order, name=name, actor=request.user, reason=str(_("Bulk action in admin"))
                )
                done += 1
            except DomainError as exc:
                modeladmin.message_user(request, f"{order.number}: {exc.message}", messages.WARNING)
        modeladmin.message_user(request, _("%(n)s orders updated.") % {"n": done})

    run.short_description = label
    run.__name__ = f"bulk_{name}"
    return run


@admin.register(Order)
class OrderAdmin(ExportMixin, admin.ModelAdmin):
    """Orders are read here; every change goes through the order services (desk or actions)."""

    resource_classes = [OrderResource]
    list_display = [
        "number",
        "channel",
        "external_id",
        "status",
        "priority",
        "total",
        "currency",
        "placed_at",
    ]
    list_filter = ["status", "priority", "channel"]
    search_fields = ["=number", "=external_id", "=customer_phone", "=ship_phone"]
    date_hierarchy = "placed_at"
    inlines = [OrderLineInline, OrderEventInline]
    list_select_related = ["channel"]
    show_full_result_count = False
    actions = [
        _bulk_transition("release", _("Release selected held orders")),
        _bulk_transition("complete", _("Complete selected delivered orders")),
    ]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReviewRuleResource(resources.ModelResource):
    class Meta:
        model = ReviewRule
        clean_model_instances = True  # an imported rule passes the same checks as the admin form
        fields = [
            "id",
            "name",
            "kind",
            "is_active",
            "channel",
            "keywords",
            "threshold_count",
            "window_minutes",
            "amount",
            "currency",
            "blacklist",
            "priority",
        ]


@admin.register(ReviewRule)
class ReviewRuleAdmin(ImportExportModelAdmin):
    """Rules apply to orders ingested after a change; orders already held stay held."""

    resource_classes = [ReviewRuleResource]
    list_display = ["name", "kind", "is_active", "channel", "priority", "updated_at"]
    list_filter = ["kind", "is_active", "channel"]
    list_editable = ["is_active", "priority"]
    search_fields = ["name", "keywords", "blacklist"]
    list_select_related = ["channel"]
    fieldsets = [
        (None, {"fields": ["name", "kind", "is_active", "channel", "priority"]}),
        (_("Address keywords"), {"fields": ["keywords"]}),
        (_("Orders from one phone or IP"), {"fields": ["threshold_count", "window_minutes"]}),
        (_("Amount"), {"fields": ["amount", "currency"]}),
        (_("Blacklist"), {"fields": ["blacklist"]}),
    ]


@admin.register(GiftRule)
class GiftRuleAdmin(admin.ModelAdmin):
    """Rules apply to orders ingested after a change (orders.gifts); gifts already added stay."""

    list_display = [
        "name",
        "is_active",
        "priority",
        "channel",
        "trigger_sku",
        "trigger_quantity",
        "min_amount",
        "currency",
        "gift_sku",
        "gift_quantity",
        "starts_at",
        "ends_at",
    ]
    list_filter = ["is_active", "channel", "per_multiple", "amount_basis", "starts_at", "ends_at"]
    list_editable = ["is_active", "priority"]
    search_fields = ["name", "gift_sku__code", "trigger_sku__code"]
    list_select_related = ["channel", "trigger_sku", "gift_sku"]
    autocomplete_fields = ["trigger_sku", "gift_sku"]
    fieldsets = [
        (None, {"fields": ["name", "is_active", "priority", "channel"]}),
        (
            _("When"),
            {"fields": ["trigger_sku", "trigger_quantity", "min_amount", "currency", "amount_basis"]},
        ),
        (_("Window (order placed)"), {"fields": ["starts_at", "ends_at"]}),
        (_("Gift"), {"fields": ["gift_sku", "gift_quantity", "per_multiple", "max_gifts"]}),
    ]


from fulfilment import admin as fulfilment_admin  # noqa: E402, F401  (registers its models)


@admin.register(ReceiverDecryption)
class ReceiverDecryptionAdmin(admin.ModelAdmin):
    """The audit trail of protected receivers decrypted by the platforms: read only."""

    list_display = ["created_at", "order", "purpose", "actor", "succeeded", "error"]
    list_filter = ["purpose", "succeeded"]
    search_fields = ["order__number", "order__external_id"]
    list_select_related = ["order", "actor"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
