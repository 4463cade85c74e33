from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from fulfilment.models import Shipment, ShipmentLine
from fulfilment.selectors import order_shipments
from inventory.models import Reservation
from orders import amounts
from orders.api import bulk
from orders.api.bulk import BULK_MAX
from orders.canonical import CanonicalOrderInput
from orders.models import Order, OrderEvent, OrderLine, OrderStatus


class DiscountAllocationOutput(serializers.Serializer):
    amount = serializers.DecimalField(max_digits=18, decimal_places=2)
    funded_by = serializers.ChoiceField(choices=["merchant", "platform"])
    title = serializers.CharField(allow_blank=True)


class OrderLineOutput(serializers.ModelSerializer):
    """A line as sold, with its money (orders.amounts): net = unit price × quantity + adjustment −
    discount − order discount share; paid = net + tax when prices exclude it."""

    sku = serializers.CharField(
        source="sku.code", allow_null=True, default=None, help_text=_("Null while the item is not mapped.")
    )
    name = serializers.CharField(source="sku.name", allow_null=True, default=None)
    parent_line_no = serializers.IntegerField(
        source="parent_line.line_no",
        default=None,
        allow_null=True,
        help_text=_("A bundle component's bundle line."),
    )
    discount_allocations = DiscountAllocationOutput(many=True)
    net_amount = serializers.DecimalField(max_digits=18, decimal_places=2)

    class Meta:
        model = OrderLine
        fields = [
            "id",
            "line_no",
            "kind",
            "parent_line_no",
            "sku",
            "name",
            "platform_item_id",
            "platform_line_id",
            "platform_sku_id",
            "seller_code",
            "title",
            "quantity",
            "cancelled_quantity",
            "unit_price",
            "discount",
            "discount_allocations",
            "platform_discount",
            "adjustment",
            "order_discount_share",
            "tax_amount",
            "tax_rate",
            "net_amount",
            "paid_amount",
            "presale",
        ]
        read_only_fields = fields


class AddressOutput(serializers.Serializer):
    name = serializers.CharField()
    phone = serializers.CharField()
    country = serializers.CharField()
    province = serializers.CharField()
    city = serializers.CharField()
    district = serializers.CharField()
    line1 = serializers.CharField()
    line2 = serializers.CharField()
    postcode = serializers.CharField()


class ReservationOutput(serializers.ModelSerializer):
    sku = serializers.CharField(source="sku.code")
    line_no = serializers.IntegerField(source="order_line.line_no")
    warehouse = serializers.CharField(source="balance.warehouse.code")
    pool = serializers.CharField(source="balance.pool.code")
    lot = serializers.CharField(source="balance.lot.code", default=None, allow_null=True)

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
    carrier = serializers.CharField(source="carrier.code", default=None, allow_null=True)
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
    customer_email = serializers.EmailField(read_only=True, allow_blank=True)  # may be unknown: ""
    held_from = serializers.ChoiceField(
        choices=OrderStatus.choices, allow_blank=True, read_only=True, help_text=_("Empty unless on hold.")
    )
    shipping_address = serializers.SerializerMethodField()
    lines = OrderLineOutput(many=True)
    reservations = ReservationOutput(many=True)
    shipments = serializers.SerializerMethodField()
    events = OrderEventOutput(many=True)
    paid_difference = serializers.SerializerMethodField(
        help_text=_(
            "What the platform says was paid less the total: positive = refund it, negative = collect it; "
            "null when the platform does not say."
        )
    )

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
            "adjustment_amount",
            "line_discount_amount",
            "discount",
            "platform_discount_amount",
            "shipping_fee",
            "shipping_discount",
            "tax_amount",
            "shipping_tax",
            "tax_included",
            "paid_amount",
            "paid_difference",
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

    @extend_schema_field(serializers.DecimalField(max_digits=18, decimal_places=2, allow_null=True))
    def get_paid_difference(self, order) -> str | None:
        difference = amounts.paid_difference(order)
        return None if difference is None else f"{difference:.2f}"

    @extend_schema_field(ShipmentOutput(many=True))
    def get_shipments(self, order) -> list[dict]:
        return ShipmentOutput(order_shipments(order), many=True).data

    @extend_schema_field(AddressOutput)
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


class BulkOrdersInput(serializers.Serializer):
    """Only for the schema: the view validates each order on its own (orders.api.bulk)."""

    orders = CanonicalOrderInput(many=True, allow_empty=False, max_length=BULK_MAX)


class BulkItemOutput(serializers.Serializer):
    index = serializers.IntegerField(help_text=_("The order's position in the request, from 0."))
    external_id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(
        choices=bulk.STATUSES,
        help_text=_(
            "created; updated (a newer version of a known order, or of one earlier in the request); "
            "unchanged (not newer); invalid (see errors; nothing stored for it); refused (the known "
            "order's state refuses the newer version; see errors)."
        ),
    )
    number = serializers.CharField(required=False, help_text=_("Absent when invalid or refused."))
    errors = serializers.DictField(
        required=False, help_text=_("As the single POST's 400 body names them: field → messages.")
    )


class BulkOrdersOutput(serializers.Serializer):
    results = BulkItemOutput(many=True, help_text=_("One per order sent, in the same order."))
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    invalid = serializers.IntegerField()
    refused = serializers.IntegerField()


class BulkProblemOutput(serializers.Serializer):
    detail = serializers.CharField()


class CreatedOrderOutput(OrderDetailOutput):
    """An order this request created, as its transaction committed it: it has no parcel yet
    (routing runs after commit, orders.services.route_on_commit), so no shipment query."""

    def get_shipments(self, order) -> list[dict]:
        return []
