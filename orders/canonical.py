"""The canonical order: the one shape every source (API, platform adapters, Excel upload,
exchanges) validates an incoming order into before orders.services.order_ingest takes it.

`CanonicalOrderInput` validates; its `validated_data` is a `CanonicalOrder` (typed below)."""

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import NotRequired, TypedDict

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty

from catalog.models import Channel, Platform
from core import plain_validation
from core.money import MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS, ZERO
from core.serializer_fields import active_by_code
from core.timezones import checked_moment, to_utc
from inventory.item_mappings import ItemName, ItemResolver
from inventory.models import SKU
from orders import amounts
from orders.models import Priority

FUTURE_TOLERANCE = timedelta(hours=1)
FUNDED_BY = [("merchant", _("the seller")), ("platform", _("the platform"))]


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


class CanonicalDiscount(TypedDict):
    amount: Decimal
    funded_by: str  # "merchant" or "platform"
    title: NotRequired[str]


class CanonicalLine(TypedDict):
    sku: SKU | None  # None: not mapped to a SKU yet (the order waits on hold)
    quantity: int
    unit_price: Decimal
    platform_line_id: NotRequired[str]
    platform_item_id: NotRequired[str]
    platform_sku_id: NotRequired[str]
    seller_code: NotRequired[str]
    title: NotRequired[str]
    discount: NotRequired[Decimal]
    discount_allocations: NotRequired[list[CanonicalDiscount]]
    platform_discount: NotRequired[Decimal]
    adjustment: NotRequired[Decimal]
    order_discount_share: NotRequired[Decimal]
    tax_amount: NotRequired[Decimal]
    tax_rate: NotRequired[Decimal | None]
    paid_amount: NotRequired[Decimal]
    gift: NotRequired[bool]
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
    protected_receiver: NotRequired[dict[str, dict[str, str]]]
    requires_shipping: NotRequired[bool]
    updated_at: NotRequired[datetime]
    customer: NotRequired[CanonicalCustomer]
    shipping_fee: NotRequired[Decimal]
    shipping_discount: NotRequired[Decimal]
    shipping_tax: NotRequired[Decimal]
    tax_included: NotRequired[bool]
    discount: NotRequired[Decimal]
    platform_discount: NotRequired[Decimal]
    platform_commission: NotRequired[Decimal]
    paid_amount: NotRequired[Decimal]
    paid: NotRequired[bool]
    paid_at: NotRequired[datetime]
    cancelled: NotRequired[bool]
    platform_hold: NotRequired[str]
    priority: NotRequired[str]
    tags: NotRequired[list[str]]
    buyer_ip: NotRequired[str | None]
    note: NotRequired[str]


def at_most_ten_keys(value: dict) -> None:
    if len(value) > 10:
        raise serializers.ValidationError(_("At most 10 entries."))


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


class DiscountAllocationInput(serializers.Serializer):
    amount = money_field()
    funded_by = serializers.ChoiceField(choices=FUNDED_BY, required=False, default="merchant")
    title = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")


class OrderLineInput(serializers.Serializer):
    # Resolved to a SKU (or None: unmapped) by the order's validation, see CanonicalOrderInput.
    sku = serializers.CharField(
        max_length=64,
        required=False,
        allow_null=True,
        allow_blank=True,
        default=None,
        help_text=_(
            "Our SKU code. On a sales platform's channel a code that is not ours is the seller's code "
            "there, mapped to a SKU by the channel's item mappings. Leave it out to name the item by "
            "the platform's ids or seller code."
        ),
    )
    platform_line_id = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    platform_item_id = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    platform_sku_id = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    seller_code = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    title = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    quantity = serializers.IntegerField(min_value=1, max_value=100_000)
    unit_price = money_field(help_text=_("List price of one unit, before discounts and adjustments."))
    discount = money_field(required=False, help_text=_("The line's own discounts, all of them."))
    discount_allocations = DiscountAllocationInput(many=True, required=False, max_length=50)
    adjustment = money_field(
        required=False, min_value=None, default=ZERO, help_text=_("Seller price change; negative lowers it.")
    )
    order_discount_share = money_field(
        required=False, help_text=_("The line's share of the order discount, when the platform states it.")
    )
    tax_amount = money_field(required=False, default=ZERO)
    tax_rate = serializers.DecimalField(
        max_digits=7, decimal_places=4, min_value=Decimal("0"), max_value=Decimal("1"), required=False
    )
    paid_amount = money_field(required=False, help_text=_("What the buyer paid for the line, as stated."))
    gift = serializers.BooleanField(required=False, default=False)
    presale = serializers.BooleanField(required=False)
    lock = serializers.CharField(
        max_length=32, required=False, allow_blank=True, help_text=_("Fingerprint of a checkout stock lock.")
    )

    def validate(self, attrs):
        allocations = attrs.get("discount_allocations") or []
        allocated = sum((a["amount"] for a in allocations), ZERO)
        if "discount" not in attrs:
            attrs["discount"] = allocated
        elif allocations and attrs["discount"] != allocated:
            raise serializers.ValidationError(
                {"discount": _("Differs from the sum of its allocations (%(sum)s).") % {"sum": allocated}}
            )
        attrs["platform_discount"] = sum(
            (a["amount"] for a in allocations if a["funded_by"] == "platform"), ZERO
        )
        gross = attrs["unit_price"] * attrs["quantity"] + attrs["adjustment"]
        if gross < 0:
            raise serializers.ValidationError({"adjustment": _("Lowers the line below zero.")})
        if attrs["discount"] + attrs.get("order_discount_share", ZERO) > gross:
            raise serializers.ValidationError({"discount": _("More than the line's amount.")})
        if not attrs["sku"] and not any(
            attrs[name] for name in ("platform_item_id", "platform_sku_id", "seller_code")
        ):
            raise serializers.ValidationError(
                {"sku": _("Give our SKU code, or the platform's item id or seller code.")}
            )
        return attrs

    def validate_sku(self, code):
        """On a channel of the generic platform (our API, the Excel upload) `sku` is our code: one
        that is not ours, nor a seller's code mapped on the channel, is refused here, beside the
        line's other errors. On a sales platform's channel it is the seller's code there: an
        unknown one leaves the line unmapped and the order waits for the mapping."""
        items = getattr(self.root, "_line_items", None)
        if code and items is not None and items.refuses(code):
            raise serializers.ValidationError(unknown_sku_message(code), code="does_not_exist")
        return code or None


def unknown_sku_message(code: str) -> str:
    return _("Unknown or inactive SKU “%(code)s”.") % {"code": code}


class _OrderItems:
    """What an order's validation needs to name its lines' SKUs: the channel and a resolver
    loaded for every line at once (before the fields are validated, from the raw body)."""

    def __init__(self, resolver: ItemResolver, data) -> None:
        self.resolver = resolver
        self.channel = None
        code = searchable(data.get("channel")) if isinstance(data, Mapping) else ""
        if not code:
            return
        self.channel = resolver.channel(code)
        lines = data.get("lines")
        if self.channel is not None and isinstance(lines, list):
            resolver.load(item_name(self.channel, line) for line in lines if isinstance(line, dict))

    def refuses(self, code: str) -> bool:
        generic = self.channel is not None and self.channel.platform == Platform.GENERIC
        return generic and self.resolver.resolve(ItemName(self.channel.pk, code=code)) is None


def item_name(channel: Channel, line: dict) -> ItemName:
    """How a line (raw or validated) names its item on the channel."""

    return ItemName(
        channel.pk,
        code=searchable(line.get("sku")),
        platform_item_id=searchable(line.get("platform_item_id")),
        platform_sku_id=searchable(line.get("platform_sku_id")),
        seller_code=searchable(line.get("seller_code")),
    )


def searchable(value) -> str:
    """A raw value as a look-up key: the stripped string, or "" for anything else and for text no
    database can hold (a NUL, a lone surrogate from a JSON escape). The look-ups run before the
    fields are validated; the field's validation then refuses such text, naming the field."""
    if not isinstance(value, str) or "\x00" in value or plain_validation.SURROGATES.search(value):
        return ""
    return value.strip()


def item_resolver(payloads=()) -> ItemResolver:
    """A resolver loaded for many raw canonical orders at once (an upload's, a bulk request's): one
    query for their channels, one for SKUs by code or barcode, one for item mappings, whatever the
    number of orders. Pass it to each order's CanonicalOrderInput as `context={"item_resolver": …}`."""
    payloads = [payload for payload in payloads if isinstance(payload, Mapping)]
    codes = {searchable(payload.get("channel")) for payload in payloads} - {""}
    resolver = ItemResolver()
    resolver.load_channels(codes)
    names = []
    for payload in payloads:
        code = searchable(payload.get("channel"))
        channel = resolver.channel(code) if code else None
        lines = payload.get("lines")
        if channel is not None and isinstance(lines, list):
            names.extend(item_name(channel, line) for line in lines if isinstance(line, dict))
    resolver.load(names)
    return resolver


class _ChannelField(serializers.SlugRelatedField):
    """The order's channel by its code: the one the lines' look-up found already, else queried."""

    def to_internal_value(self, data):
        found = getattr(getattr(self.root, "_line_items", None), "channel", None)
        if found is not None and data == found.code:
            return found
        return super().to_internal_value(data)


class CanonicalOrderInput(plain_validation.PlainValidation, serializers.Serializer):
    """The canonical order of SPEC §7: what every channel adapter maps its payloads to."""

    channel = active_by_code(Channel.objects.all(), field_class=_ChannelField)
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
    protected_receiver = serializers.DictField(
        child=serializers.DictField(
            child=serializers.CharField(max_length=2000, allow_blank=True), validators=[at_most_ten_keys]
        ),
        required=False,
        validators=[at_most_ten_keys],
        help_text=_(
            "Receiver data the platform protects, per field (name, phone, address): masked text, "
            "ciphertext and search index as given. The address holds the masked text."
        ),
    )
    lines = OrderLineInput(many=True, allow_empty=False, max_length=500)
    shipping_fee = money_field(required=False, default=ZERO)
    shipping_discount = money_field(required=False, default=ZERO)
    shipping_tax = money_field(required=False, default=ZERO)
    tax_included = serializers.BooleanField(
        required=False, default=False, help_text=_("Whether prices (and shipping) include tax.")
    )
    discount = money_field(
        required=False,
        help_text=_("Order-level discount (spread over the lines unless they state their share)."),
    )
    platform_discount = money_field(
        required=False, default=ZERO, help_text=_("The part of the order discount the platform pays for.")
    )
    platform_commission = money_field(required=False, default=ZERO)
    paid_amount = money_field(
        required=False, help_text=_("What the buyer paid, as the platform states it; checked at intake.")
    )
    paid = serializers.BooleanField(required=False, default=False)
    paid_at = PlatformDateTimeField(required=False)
    cancelled = serializers.BooleanField(required=False, default=False)
    platform_hold = serializers.CharField(
        max_length=255,
        required=False,
        allow_blank=True,
        default="",
        help_text=_(
            "Why the platform says the order must not ship yet (e.g. its risk check). The order is "
            "taken (paid and reserved when paid) and held; a later version without it releases it."
        ),
    )
    priority = serializers.ChoiceField(choices=Priority.choices, required=False, default="normal")
    tags = serializers.ListField(
        child=serializers.CharField(max_length=40), required=False, default=list, max_length=20
    )
    buyer_ip = serializers.IPAddressField(required=False, allow_null=True, allow_blank=True)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")

    def run_validation(self, data=empty):
        """Through core.plain_validation for an order of the plain JSON shapes (DRF's result at a
        fraction of its CPU), through DRF for anything else and every refused order."""
        self._prepare(data)
        return super().run_validation(data)

    def to_internal_value(self, data):
        self._prepare(data)
        return super().to_internal_value(data)

    def _prepare(self, data) -> None:
        """The lines' items looked up for this order, once (see _OrderItems)."""
        if getattr(self, "_prepared_for", None) is not data:
            resolver = self.context.get("item_resolver") or ItemResolver()
            self._line_items = _OrderItems(resolver, data)
            self._prepared_for = data

    def validate(self, attrs):
        zone = attrs["channel"].time_zone
        for field in ("placed_at", "updated_at", "paid_at"):
            if attrs.get(field) is not None:
                attrs[field] = to_utc(attrs[field], zone)
        if attrs["placed_at"] > timezone.now() + FUTURE_TOLERANCE:
            raise serializers.ValidationError({"placed_at": _("In the future: check the time zone offset.")})
        lines = attrs["lines"]
        self._resolve_items(attrs["channel"], lines)
        self._check_discounts(attrs, lines)
        amounts.share_order_discount(lines, attrs["discount"])
        for line in lines:
            line.setdefault("presale", bool(line["sku"] and line["sku"].presale))
            if line["gift"] and (line["unit_price"] or line["adjustment"]):
                raise serializers.ValidationError({"lines": _("A gift line has no price.")})
        return attrs

    def _resolve_items(self, channel: Channel, lines: list) -> None:
        """Each line's SKU, resolved in the one place every source goes through (see
        inventory.item_mappings for the order); None leaves the line unmapped, and the intake
        holds the order until the item is mapped (orders.item_mapping)."""
        resolver = self._line_items.resolver
        names = [item_name(channel, line) for line in lines]
        resolver.load(names)
        refused = {}
        for index, (line, name) in enumerate(zip(lines, names, strict=True)):
            sku = line["sku"] = resolver.resolve(name)
            if not name.code or (sku is not None and sku.code == name.code):
                continue
            if sku is None and channel.platform == Platform.GENERIC:
                refused[index] = {"sku": [unknown_sku_message(name.code)]}
            elif not line["seller_code"]:
                line["seller_code"] = name.code  # not our code: the platform's seller code, kept
        if refused:
            raise serializers.ValidationError({"lines": refused})

    @staticmethod
    def _check_discounts(attrs, lines) -> None:
        stated = [line["order_discount_share"] for line in lines if "order_discount_share" in line]
        if stated and len(stated) != len(lines):
            raise serializers.ValidationError(
                {"lines": _("State every line's share of the order discount, or none.")}
            )
        if "discount" not in attrs:
            attrs["discount"] = sum(stated, ZERO)
        elif stated and sum(stated, ZERO) != attrs["discount"]:
            raise serializers.ValidationError(
                {
                    "discount": _("Differs from the sum of the lines' shares (%(sum)s).")
                    % {"sum": sum(stated, ZERO)}
                }
            )
        net_goods = sum((amounts.before_order_discount(line) for line in lines), ZERO)
        if attrs["discount"] > net_goods:
            raise serializers.ValidationError({"discount": _("More than the order's goods.")})
        if attrs["shipping_discount"] > attrs["shipping_fee"]:
            raise serializers.ValidationError({"shipping_discount": _("More than the shipping fee.")})
        if attrs["platform_discount"] > attrs["discount"]:
            raise serializers.ValidationError({"platform_discount": _("More than the order discount.")})
