from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from import_export import fields, resources, widgets
from import_export.admin import ImportExportModelAdmin

from catalog.models import Channel
from core.errors import DomainError
from core.forms import WriteOnlyJSONObjectField
from fulfilment.models import Carrier
from integrations import writeback
from integrations.models import CarrierCode, ChannelListing, InboundMessage, InboundStatus, ShipmentWriteBack
from integrations.services import inbound_message_replay
from inventory.models import SKU


class ChannelResource(resources.ModelResource):
    class Meta:
        model = Channel
        import_id_fields = ["code"]
        # Secrets never leave through an export nor arrive through a spreadsheet.
        fields = ["code", "platform", "name", "time_zone", "currency", "reservation_ttl_minutes", "is_active"]


class ChannelForm(forms.ModelForm):
    webhook_secret = forms.CharField(
        label=_("Webhook secret"),
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("Write-only: leave empty to keep the current secret."),
    )

    api_credentials_json = WriteOnlyJSONObjectField(
        label=_("API credentials (JSON)"),
        help_text=_("Write-only: a JSON object of the platform's keys and tokens; leave empty to keep."),
    )

    class Meta:
        model = Channel
        fields = [
            "platform",
            "code",
            "name",
            "time_zone",
            "currency",
            "reservation_ttl_minutes",
            "webhook_secret",
            "is_active",
            "notify_customers",
            "writeback_on",
        ]

    def clean_webhook_secret(self):
        return self.cleaned_data["webhook_secret"] or self.instance.webhook_secret

    def save(self, commit=True):
        if self.cleaned_data.get("api_credentials_json") is not None:
            self.instance.api_credentials = self.cleaned_data["api_credentials_json"]
        return super().save(commit=commit)


class CarrierCodeForm(forms.ModelForm):
    class Meta:
        model = CarrierCode
        fields = ["platform", "channel", "carrier", "code", "name", "tracking_url"]


@admin.register(Channel)
class ChannelAdmin(ImportExportModelAdmin):
    form = ChannelForm
    resource_classes = [ChannelResource]
    list_display = [
        "code",
        "name",
        "platform",
        "time_zone",
        "currency",
        "reservation_ttl_minutes",
        "is_active",
    ]
    list_filter = ["platform", "is_active", "currency", "writeback_on"]
    search_fields = ["code", "name"]


class CarrierCodeResource(resources.ModelResource):
    channel = fields.Field("channel", "channel", widgets.ForeignKeyWidget(Channel, "code"))
    carrier = fields.Field("carrier", "carrier", widgets.ForeignKeyWidget(Carrier, "code"))

    class Meta:
        model = CarrierCode
        import_id_fields = ["platform", "channel", "carrier"]
        fields = ["platform", "channel", "carrier", "code", "name", "tracking_url"]


@admin.register(CarrierCode)
class CarrierCodeAdmin(ImportExportModelAdmin):
    """The carrier code map of the shipment write-back (integrations.writeback): what each
    platform, or one channel of it, calls our carriers."""

    form = CarrierCodeForm
    resource_classes = [CarrierCodeResource]
    list_display = ["carrier", "platform", "channel", "code", "name", "tracking_url"]
    list_filter = ["platform", "channel", "carrier"]
    search_fields = ["carrier__code", "carrier__name", "code", "name"]
    list_select_related = ["carrier", "channel"]


class LogAdmin(admin.ModelAdmin):
    """A log the system writes: shown read only, never added or deleted by hand."""

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ShipmentWriteBack)
class ShipmentWriteBackAdmin(LogAdmin):
    """Read-only: rows change through integrations.writeback; failed ones are sent again by the
    action (or from the order page and the failed queue)."""

    list_display = ["shipment", "order", "channel", "state", "attempts", "sent_at", "platform_reference"]
    list_filter = ["state", "channel"]
    search_fields = ["shipment__number", "order__number", "shipment__tracking_number"]
    list_select_related = ["shipment", "order", "channel"]
    actions = ["retry"]

    def has_retry_permission(self, request):
        return request.user.has_perm(writeback.RETRY_PERMISSION)

    @admin.action(description=_("Send the failed write-backs again"), permissions=["retry"])
    def retry(self, request, queryset):
        for write_back_id in queryset.order_by("pk").values_list("pk", flat=True):
            try:
                writeback.writeback_retry(write_back=write_back_id, actor=request.user)
            except DomainError as exc:
                self.message_user(request, f"#{write_back_id}: {exc.message}", messages.WARNING)
            else:
                self.message_user(request, _("#%(id)s sent again.") % {"id": write_back_id}, messages.SUCCESS)


@admin.register(InboundMessage)
class InboundMessageAdmin(LogAdmin):
    """Webhook log: read-only; a failed message can be replayed once its cause is fixed."""

    list_display = ["received_at", "channel", "platform", "topic", "status", "order", "attempts", "dedupe_id"]
    list_filter = ["channel", "status", "topic"]
    search_fields = ["dedupe_id"]
    list_select_related = ["channel", "order"]
    date_hierarchy = "received_at"
    actions = ["replay"]

    @admin.action(description=_("Replay"), permissions=["change"])
    def replay(self, request, queryset):
        for message_id in queryset.order_by("pk").values_list("pk", flat=True):
            try:
                message = inbound_message_replay(message_id)
            except DomainError as exc:
                self.message_user(request, f"#{message_id}: {exc.message}", messages.WARNING)
                continue
            level = messages.SUCCESS if message.status == InboundStatus.PROCESSED else messages.WARNING
            self.message_user(
                request,
                _("#%(id)s: %(status)s") % {"id": message_id, "status": message.get_status_display()},
                level,
            )


class ChannelListingResource(resources.ModelResource):
    channel = fields.Field("channel", "channel", widgets.ForeignKeyWidget(Channel, "code"))
    sku = fields.Field("sku", "sku", widgets.ForeignKeyWidget(SKU, "code"))

    class Meta:
        model = ChannelListing
        import_id_fields = ["channel", "sku"]
        fields = ["channel", "sku", "platform_item_id", "platform_location_id"]


@admin.register(ChannelListing)
class ChannelListingAdmin(ImportExportModelAdmin):
    resource_classes = [ChannelListingResource]
    list_display = [
        "channel",
        "sku",
        "platform_item_id",
        "platform_location_id",
        "last_pushed_quantity",
        "last_pushed_at",
    ]
    list_filter = ["channel"]
    search_fields = ["sku__code", "platform_item_id"]
    list_select_related = ["channel", "sku"]
    autocomplete_fields = ["sku"]
    readonly_fields = ["last_pushed_quantity", "last_pushed_at"]
