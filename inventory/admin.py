from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from import_export import resources
from import_export.admin import ExportMixin, ImportExportModelAdmin

from inventory import bundles
from inventory.models import (
    SKU,
    BundleComponent,
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
    StockTransfer,
    StockTransferLine,
    Warehouse,
    WarehouseCarrierCode,
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


class WarehouseCarrierCodeInline(admin.TabularInline):
    """The warehouse's own carrier codes, read from its WMS confirmations (e.g. STO2 → STO)."""

    model = WarehouseCarrierCode
    extra = 0
    autocomplete_fields = ["carrier"]


@admin.register(Warehouse)
class WarehouseAdmin(ImportExportModelAdmin):
    form = WarehouseForm
    inlines = [WarehouseCarrierCodeInline]
    resource_classes = [WarehouseResource]
    list_display = ["code", "name", "kind", "province", "city", "wms_protocol", "is_active"]
    list_filter = ["kind", "is_active", "province"]
    search_fields = ["code", "name", "city"]


class BundleComponentFormSet(forms.BaseInlineFormSet):
    """The components as they will be once saved, checked together with the SKU's bundle flag
    (inventory.bundles.validate_bundle)."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        components = [
            (form.cleaned_data["component"], form.cleaned_data.get("quantity") or 0)
            for form in self.forms
            if form.cleaned_data.get("component") and not form.cleaned_data.get("DELETE")
        ]
        try:
            bundles.validate_bundle(self.instance, components)
        except ValidationError as exc:
            raise ValidationError(exc.messages) from exc


class BundleComponentInline(admin.TabularInline):
    model = BundleComponent
    fk_name = "bundle"
    formset = BundleComponentFormSet
    extra = 1
    autocomplete_fields = ["component"]
    fields = ["component", "quantity", "reference_price"]
    verbose_name = _("component")
    verbose_name_plural = _("bundle components (组合装): what one unit of this SKU is made of")


@admin.register(SKU)
class SKUAdmin(ImportExportModelAdmin):
    resource_classes = [SKUResource]
    list_display = ["code", "name", "barcode", "presale", "lot_tracked", "is_bundle", "is_active"]
    list_filter = ["is_bundle", "presale", "lot_tracked", "is_active"]
    search_fields = ["code", "name", "barcode"]
    inlines = [BundleComponentInline]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if form.instance.is_bundle or "is_bundle" in form.changed_data:
            bundles.bundle_saved(form.instance)  # channels are shown what the bundle now makes up


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


class StockTransferLineInline(admin.TabularInline):
    model = StockTransferLine
    fields = ["sku", "pool", "lot", "quantity", "shipped_quantity", "received_quantity", "short_quantity"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(StockTransfer)
class StockTransferAdmin(ReadOnlyAdmin):
    """Read only: transfers move through the desk (inventory.transfers), never a generic form."""

    list_display = ["number", "from_warehouse", "to_warehouse", "status", "has_overage", "created_at"]
    list_filter = ["status", "from_warehouse", "to_warehouse"]
    search_fields = ["number", "reference"]
    inlines = [StockTransferLineInline]


# --- item mappings: platform items ↔ SKUs (import and export with Excel) ---------------------------

from django.contrib import messages  # noqa: E402
from django.core.exceptions import ValidationError as RowError  # noqa: E402
from django.utils.translation import gettext  # noqa: E402
from import_export import fields, instance_loaders, widgets  # noqa: E402

from catalog.models import Channel  # noqa: E402
from core.errors import DomainError  # noqa: E402
from inventory.models import ItemMapping  # noqa: E402
from orders.item_mapping import item_map  # noqa: E402

ITEM_NAME_COLUMNS = ("platform_item_id", "platform_sku_id", "seller_code")


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class PlatformTextWidget(widgets.Widget):
    """A platform id or code: text as given; a number Excel made of an id keeps its digits."""

    def clean(self, value, row=None, **kwargs):
        if _blank(value):
            return ""
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        text = str(value).strip()
        if len(text) > 64:
            raise ValueError(gettext("At most 64 characters."))
        return text

    def render(self, value, obj=None, **kwargs):
        return value or ""


class ActiveCodeWidget(widgets.ForeignKeyWidget):
    """A channel or SKU named by its code; an unknown or inactive one is refused, naming it."""

    def __init__(self, model, what):
        super().__init__(model, field="code")
        self.what = what

    def clean(self, value, row=None, **kwargs):
        if _blank(value):
            raise ValueError(gettext("Name the %(what)s by its code.") % {"what": self.what})
        code = str(value).strip()
        found = self.model.objects.filter(code=code, is_active=True).first()
        if found is None:
            raise ValueError(
                gettext("Unknown or inactive %(what)s “%(code)s”.") % {"what": self.what, "code": code}
            )
        return found


class ItemMappingLoader(instance_loaders.ModelInstanceLoader):
    """The stored mapping a row names: by the channel and the platform ids, else by the channel
    and the seller code (a row that cannot be read is a new one: import_instance names the cell)."""

    def get_instance(self, row):
        text = PlatformTextWidget()
        try:
            channel = Channel.objects.filter(code=str(row.get("channel") or "").strip()).first()
            item_id, sku_id, seller = (text.clean(row.get(name)) for name in ITEM_NAME_COLUMNS)
        except ValueError:
            return None
        if channel is None:
            return None
        mappings = ItemMapping.objects.filter(channel=channel)
        if item_id or sku_id:
            return mappings.filter(platform_item_id=item_id, platform_sku_id=sku_id).first()
        return mappings.filter(seller_code=seller).first() if seller else None


class ItemMappingResource(resources.ModelResource):
    """One row per mapping: channel and SKU by code, the platform's ids and/or the seller's code.
    Each row goes through orders.item_mapping (which checks the user's permission): a new mapping
    releases the orders waiting for the item, a row naming a stored mapping re-points it. An
    error names the row and the field; the admin imports nothing while any row is wrong."""

    channel = fields.Field(
        attribute="channel", column_name="channel", widget=ActiveCodeWidget(Channel, "channel")
    )
    platform_item_id = fields.Field(
        attribute="platform_item_id", column_name="platform_item_id", widget=PlatformTextWidget()
    )
    platform_sku_id = fields.Field(
        attribute="platform_sku_id", column_name="platform_sku_id", widget=PlatformTextWidget()
    )
    seller_code = fields.Field(
        attribute="seller_code", column_name="seller_code", widget=PlatformTextWidget()
    )
    title = fields.Field(attribute="title", column_name="title", widget=widgets.CharWidget())
    sku = fields.Field(attribute="sku", column_name="sku", widget=ActiveCodeWidget(SKU, "SKU"))
    sku_name = fields.Field(attribute="sku__name", column_name="sku_name", readonly=True)
    mapped_by = fields.Field(attribute="mapped_by__username", column_name="mapped_by", readonly=True)
    updated_at = fields.Field(attribute="updated_at", column_name="updated_at", readonly=True)

    class Meta:
        model = ItemMapping
        fields = (
            "channel",
            "platform_item_id",
            "platform_sku_id",
            "seller_code",
            "title",
            "sku",
            "sku_name",
            "mapped_by",
            "updated_at",
        )
        export_order = fields
        import_id_fields = ("channel",)  # the loader finds the mapping by its ids or seller code
        instance_loader_class = ItemMappingLoader
        skip_unchanged = True
        report_skipped = True

    def get_queryset(self):
        return ItemMapping.objects.select_related("channel", "sku", "mapped_by")

    def before_import(self, dataset, **kwargs):
        headers = dataset.headers or []
        missing = [column for column in ("channel", "sku") if column not in headers]
        if not any(column in headers for column in ITEM_NAME_COLUMNS):
            missing.append(" / ".join(ITEM_NAME_COLUMNS))
        if missing:
            raise ValueError(
                gettext("Columns missing from the header row: %(columns)s.") % {"columns": ", ".join(missing)}
            )

    def import_instance(self, instance, row, **kwargs):
        errors: dict = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except RowError as exc:
            errors = exc.update_error_dict(errors)
        names = [getattr(instance, name, "") for name in ITEM_NAME_COLUMNS]
        if not any(names) and not set(ITEM_NAME_COLUMNS) & set(errors):
            errors["platform_item_id"] = [gettext("Give the platform's item id, SKU id or the seller code.")]
        if errors:
            raise RowError(errors)

    def save_instance(self, instance, is_create, row, **kwargs):
        """Through the service, never instance.save(): it checks the permission and releases the
        orders waiting for the item."""
        if self._is_dry_run(kwargs) and not self._is_using_transactions(kwargs):
            return
        try:
            outcome = item_map(
                channel=instance.channel,
                sku=instance.sku,
                platform_item_id=instance.platform_item_id,
                platform_sku_id=instance.platform_sku_id,
                seller_code=instance.seller_code,
                title=instance.title,
                actor=kwargs.get("user"),
                replace=True,
            )
        except DomainError as exc:
            raise RowError({exc.field or "sku": [exc.message]}) from exc
        instance.pk = outcome.mapping.pk


class ItemMappingForm(forms.ModelForm):
    class Meta:
        model = ItemMapping
        fields = ["channel", "platform_item_id", "platform_sku_id", "seller_code", "title", "sku"]

    def clean(self):
        data = super().clean()
        if not any(data.get(name) for name in ITEM_NAME_COLUMNS):
            raise ValidationError(_("Give the platform's item id, SKU id or the seller code."))
        if data.get("sku") is not None and not data["sku"].is_active:
            self.add_error("sku", _("This SKU is inactive."))
        return data

    def validate_unique(self):
        """The service finds the stored mapping by the item's names and re-points it."""


@admin.register(ItemMapping)
class ItemMappingAdmin(ImportExportModelAdmin):
    """Added, changed and imported through orders.item_mapping: waiting orders are released."""

    form = ItemMappingForm
    resource_classes = [ItemMappingResource]
    list_display = [
        "channel",
        "platform_item_id",
        "platform_sku_id",
        "seller_code",
        "title",
        "sku",
        "mapped_by",
        "updated_at",
    ]
    list_filter = ["channel"]
    search_fields = ["=platform_item_id", "=platform_sku_id", "=seller_code", "sku__code", "title"]
    list_select_related = ["channel", "sku", "mapped_by"]
    autocomplete_fields = ["sku"]

    def get_readonly_fields(self, request, obj=None):
        # The item's names identify the mapping: to name another item, add a mapping.
        return ["channel", *ITEM_NAME_COLUMNS] if obj is not None else []

    def save_model(self, request, obj, form, change):
        try:
            outcome = item_map(
                channel=obj.channel,
                sku=obj.sku,
                platform_item_id=obj.platform_item_id,
                platform_sku_id=obj.platform_sku_id,
                seller_code=obj.seller_code,
                title=obj.title,
                actor=request.user,
                replace=True,
            )
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        obj.pk = outcome.mapping.pk
        if outcome.orders:
            self.message_user(
                request,
                gettext("%(released)s of %(orders)s waiting orders released.")
                % {"released": len(outcome.released), "orders": len(outcome.orders)},
            )

    def has_import_permission(self, request):
        return request.user.has_perm("inventory.add_itemmapping") and request.user.has_perm(
            "inventory.change_itemmapping"
        )


from inventory import bin_admin  # noqa: E402, F401  (bins and bin stock, issue #17 part 4)
