from datetime import timedelta
from decimal import Decimal

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.fields import active_by_code
from core.money import MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS, ZERO
from core.timezones import to_utc
from integrations.models import Channel
from inventory.models import SKU, Reservation
from orders.fulfilment.models import Shipment, ShipmentLine
from orders.models import Order, OrderEvent, OrderLine, Priority

FUTURE_TOLERANCE = timedelta(hours=1)


def money_field(**kwargs):
    kwargs.setdefault("min_value", Decimal("0"))
    return serializers.DecimalField(
        max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_DECIMAL_PLACES, **kwargs
    )


class PlatformDateTimeField(serializers.Field):
    """ISO 8601; an offset is kept as given, a naive time is read in the channel's zone later."""

    default_error_messages = {"invalid": _("Use ISO 8601, e.g. 2026-02-16T09:30:00+08:00.")}

    def to_internal_value(self, data):
        try:
            value = parse_datetime(str(data))
        except ValueError:
            value = None
        if value is None:
            self.fail("invalid")
        return value

    def to_representation(self, value):
        return value.isoformat()


class CustomerInput(serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    email = serializers.EmailField(required=False, allow_blank=True, default="")


class AddressInput(serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    country = serializers.RegexField(
        r"^[A-Z]{2}$", error_messages={"invalid": _("Use a two-letter ISO country code.")}
    )
    province = serializers.CharField(max_length=60, required=False, allow_blank=True, default="")
    city = serializers.CharField(max_length=60)
    district = serializers.CharField(max_length=60, required=False, allow_blank=True, default="")
    line1 = serializers.CharField(max_length=255)
    line2 = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    postcode = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")


class OrderLineInput(serializers.Serializer):
    sku = active_by_code(SKU.objects.all())
    quantity = serializers.IntegerField(min_value=1, max_value=100_000)
    unit_price = money_field()
    discount = money_field(required=False, default=ZERO)
    presale = serializers.BooleanField(required=False)
    lock = serializers.CharField(
        max_length=32, required=False, allow_blank=True, help_text=_("Fingerprint of a checkout stock lock.")
    )

    def validate(self, attrs):
        if attrs["discount"] > attrs["unit_price"] * attrs["quantity"]:
            raise serializers.ValidationError({"discount": _("More than the line's amount.")})
        return attrs


class CanonicalOrderInput(serializers.Serializer):
    """The canonical order of SPEC §7: what every channel adapter maps its payloads to."""

    channel = active_by_code(Channel.objects.all())
    external_id = serializers.CharField(max_length=64)
    placed_at = PlatformDateTimeField()
    updated_at = PlatformDateTimeField(required=False)
    currency = serializers.RegexField(
        r"^[A-Z]{3}$", error_messages={"invalid": _("Use a three-letter ISO 4217 code.")}
    )
    customer = CustomerInput(required=False)
    shipping_address = AddressInput()
    lines = OrderLineInput(many=True, allow_empty=False, max_length=500)
    shipping_fee = money_field(required=False, default=ZERO)
    discount = money_field(required=False, default=ZERO)
    platform_commission = money_field(required=False, default=ZERO)
    paid = serializers.BooleanField(required=False, default=False)
    paid_at = PlatformDateTimeField(required=False)
    cancelled = serializers.BooleanField(required=False, default=False)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False, default="normal")
    tags = serializers.ListField(
        child=serializers.CharField(max_length=40), required=False, default=list, max_length=20
    )
    buyer_ip = serializers.IPAddressField(required=False, allow_null=True, allow_blank=True)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")

    def validate(self, attrs):
        zone = attrs["channel"].time_zone
        for field in ("placed_at", "updated_at", "paid_at"):
            if attrs.get(field) is not None:
                attrs[field] = to_utc(attrs[field], zone)
        if attrs["placed_at"] > timezone.now() + FUTURE_TOLERANCE:
            raise serializers.ValidationError({"placed_at": _("In the future: check the time zone offset.")})
        lines = attrs["lines"]
        net_goods = sum((line["unit_price"] * line["quantity"] - line["discount"] for line in lines), ZERO)
        if attrs["discount"] > net_goods + attrs["shipping_fee"]:
            raise serializers.ValidationError({"discount": _("More than the order's amount.")})
        for line in lines:
            line.setdefault("presale", line["sku"].presale)
        return attrs


class OrderLineOutput(serializers.ModelSerializer):
    sku = serializers.CharField(source="sku.code")
    name = serializers.CharField(source="sku.name")

    class Meta:
        model = OrderLine
        fields = [
            "id",
            "line_no",
            "sku",
            "name",
            "quantity",
            "cancelled_quantity",
            "unit_price",
            "discount",
            "presale",
        ]


class ReservationOutput(serializers.ModelSerializer):
    sku = serializers.CharField(source="sku.code")
    line_no = serializers.IntegerField(source="order_line.line_no")
    warehouse = serializers.CharField(source="balance.warehouse.code")
    pool = serializers.CharField(source="balance.pool.code")
    lot = serializers.CharField(source="balance.lot.code", default=None)

    class Meta:
        model = Reservation
        fields = [
            "fingerprint",
            "line_no",
            "sku",
            "warehouse",
            "pool",
            "lot",
            "quantity",
            "original_quantity",
            "state",
            "expires_at",
        ]


class ShipmentLineOutput(serializers.ModelSerializer):
    line_no = serializers.IntegerField(source="order_line.line_no")
    sku = serializers.CharField(source="sku.code")

    class Meta:
        model = ShipmentLine
        fields = ["line_no", "sku", "quantity", "packed_quantity"]


class ShipmentOutput(serializers.ModelSerializer):
    """A parcel carrying the order's units; `lines` are this order's only (a merged parcel may
    carry other orders of the same customer too), `routing` explains why its warehouse ships it."""

    warehouse = serializers.CharField(source="warehouse.code")
    order = serializers.CharField(source="order.number", help_text="The order it was routed for.")
    carrier = serializers.CharField(source="carrier.code", default=None)
    lines = ShipmentLineOutput(source="order_lines", many=True)

    class Meta:
        model = Shipment
        fields = [
            "number",
            "order",
            "status",
            "warehouse",
            "presale",
            "carrier",
            "tracking_number",
            "problem",
            "lines",
            "routing",
            "created_at",
            "sent_at",
            "shipped_at",
            "first_scan_at",
            "delivered_at",
            "cancelled_at",
        ]
        read_only_fields = fields


class OrderEventOutput(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_label")

    class Meta:
        model = OrderEvent
        fields = ["kind", "actor", "from_status", "to_status", "reason", "payload", "created_at"]


ORDER_SUMMARY_FIELDS = [
    "number",
    "status",
    "channel",
    "external_id",
    "priority",
    "placed_at",
    "currency",
    "total",
    "customer_name",
    "customer_phone",
    "created_at",
]


class OrderSummaryOutput(serializers.ModelSerializer):
    channel = serializers.CharField(source="channel.code")

    class Meta:
        model = Order
        fields = ORDER_SUMMARY_FIELDS
        read_only_fields = fields


class OrderDetailOutput(OrderSummaryOutput):
    channel_time_zone = serializers.CharField()
    shipping_address = serializers.SerializerMethodField()
    lines = OrderLineOutput(many=True)
    reservations = ReservationOutput(many=True)
    shipments = serializers.SerializerMethodField()
    events = OrderEventOutput(many=True)

    class Meta(OrderSummaryOutput.Meta):
        fields = [
            *ORDER_SUMMARY_FIELDS,
            "customer_email",
            "held_from",
            "hold_reason",
            "cancel_reason",
            "tags",
            "buyer_note",
            "goods_amount",
            "line_discount_amount",
            "discount",
            "shipping_fee",
            "platform_commission",
            "paid_at",
            "delivered_at",
            "cancelled_at",
            "channel_time_zone",
            "shipping_address",
            "lines",
            "reservations",
            "shipments",
            "events",
        ]
        read_only_fields = fields

    @extend_schema_field(ShipmentOutput(many=True))
    def get_shipments(self, order) -> list[dict]:
        from orders.fulfilment.routing import order_shipments

        return ShipmentOutput(order_shipments(order), many=True).data

    def get_shipping_address(self, order) -> dict:
        return {
            "name": order.ship_name,
            "phone": order.ship_phone,
            "country": order.ship_country,
            "province": order.ship_province,
            "city": order.ship_city,
            "district": order.ship_district,
            "line1": order.ship_line1,
            "line2": order.ship_line2,
            "postcode": order.ship_postcode,
        }


class CancelLineInput(serializers.Serializer):
    sku = serializers.CharField()
    quantity = serializers.IntegerField(min_value=1)


class CancelInput(serializers.Serializer):
    reason = serializers.CharField(max_length=255)
    lines = CancelLineInput(many=True, required=False, allow_empty=False)
