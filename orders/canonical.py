"""The canonical order: the one shape every source (API, platform adapters, Excel upload,
exchanges) validates an incoming order into before orders.services.order_ingest takes it.

`CanonicalOrderInput` validates; its `validated_data` is a `CanonicalOrder` (typed below)."""

from datetime import datetime, timedelta
from decimal import Decimal
from typing import NotRequired, TypedDict

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalog.models import Channel
from core.money import MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS, ZERO
from core.serializer_fields import active_by_code
from core.timezones import checked_moment, to_utc
from inventory.models import SKU
from orders.models import Priority

FUTURE_TOLERANCE = timedelta(hours=1)


class CanonicalCustomer(TypedDict, total=False):
    name: str
    phone: str
    email: str


class CanonicalAddress(TypedDict):
    country: str
    city: str
    line1: str
    name: NotRequired[str]
    province: NotRequired[str]
    district: NotRequired[str]
    line2: NotRequired[str]
    postcode: NotRequired[str]
    phone: NotRequired[str]


class CanonicalLine(TypedDict):
    sku: SKU
    quantity: int
    unit_price: Decimal
    discount: NotRequired[Decimal]
    presale: NotRequired[bool]
    lock: NotRequired[str]


class CanonicalOrder(TypedDict):
    """A validated canonical order (CanonicalOrderInput.validated_data): times aware UTC,
    money Decimal in `currency`."""

    channel: Channel
    external_id: str
    placed_at: datetime
    currency: str
    lines: list[CanonicalLine]
    shipping_address: NotRequired[CanonicalAddress]
    requires_shipping: NotRequired[bool]
    updated_at: NotRequired[datetime]
    customer: NotRequired[CanonicalCustomer]
    shipping_fee: NotRequired[Decimal]
    discount: NotRequired[Decimal]
    platform_commission: NotRequired[Decimal]
    paid: NotRequired[bool]
    paid_at: NotRequired[datetime]
    cancelled: NotRequired[bool]
    priority: NotRequired[str]
    tags: NotRequired[list[str]]
    buyer_ip: NotRequired[str | None]
    note: NotRequired[str]


def money_field(**kwargs):
    kwargs.setdefault("min_value", Decimal("0"))
    return serializers.DecimalField(
        max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_DECIMAL_PLACES, **kwargs
    )


@extend_schema_field(OpenApiTypes.DATETIME)
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
        try:
            return checked_moment(value)  # so that moving it to UTC later cannot fail
        except ValueError as exc:
            raise serializers.ValidationError(str(exc), code="out_of_range") from exc

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
    # Absent when nothing ships (requires_shipping false: store pickup, digital goods); absent
    # while goods must ship, the order is taken and held until someone enters the address.
    shipping_address = AddressInput(required=False)
    requires_shipping = serializers.BooleanField(required=False, default=True)
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
