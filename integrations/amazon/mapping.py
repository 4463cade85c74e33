"""Amazon SP-API order → canonical order. The payload is an Orders API v0 `Order` (getOrders)
with its `OrderItem`s (getOrderItems) added by the client under "OrderItems"
(`models/orders-api-model/ordersV0.json`, file commit e584dcb641d9da22728673317ebb73d3cd2dd852;
field meanings below are quoted from it).

Statuses (Order.OrderStatus):
- Pending / PendingAvailability: "payment has not been authorized"; getOrderItems "does not
  return information about pricing, taxes, shipping charges, gift status or promotions" then. Not
  taken: an order without prices would be stored with made-up money. The Unshipped version
  that follows carries the prices and is taken then.
- Unshipped, PartiallyShipped, Shipped, InvoiceUnconfirmed: payment authorised → paid. Amazon
  gives no payment time; the intake takes the purchase time.
- Canceled: a known order is cancelled with its lines as we hold them (a cancelled order's items
  come back with QuantityOrdered 0, which no canonical line can say); an order never taken is
  recorded as cancelled when Amazon still states its items and prices, and otherwise ignored.
- Unfulfillable "applies only to Multi-Channel Fulfillment orders", and AFN orders are shipped by
  Amazon from its own stock: neither is an order for us (the client asks for MFN orders only).
An item whose QuantityOrdered is 0 was cancelled: it is left out (the intake cancels those
units); an order with none left is treated as cancelled.

Money, per OrderItem, every field a `Money {CurrencyCode, Amount}`:
- `ItemPrice` "is equal to the selling price of the item multiplied by the quantity ordered" and
  "excludes ShippingPrice and GiftWrapPrice": the line's unit price is ItemPrice ÷ quantity to
  the cent, the remainder kept as the line's seller adjustment so nothing is lost or invented
  (integrations.adapters.unit_price).
- `PromotionDiscount` ("The total of all promotional discounts in the offer") is the line's
  discount, named by its PromotionIds; Amazon does not say who funds it, so the seller does.
- Tax: `ItemTax` ("The tax on the item price") less `PromotionDiscountTax` ("The tax on the total
  of all promotional discounts") is the line's tax; shipping tax is `ShippingTax` less
  `ShippingDiscountTax`. Whether prices include tax depends on the marketplace
  (marketplaces.Marketplace.tax_included: not in the US and Canada).
- `ShippingPrice` / `ShippingDiscount` add up to the order's shipping fee and discount.
- `CODFee` less `CODFeeDiscount`, and the item's gift wrap (`BuyerInfo.GiftWrapPrice`, its tax
  `GiftWrapTax`; item buyer info is only there when read with an RDT) are charges on the line with
  no canonical field of their own: they are added to the line's seller adjustment (and tax).
- `OrderTotal` ("The total charge for this order") is what the buyer paid; the intake holds the
  order when it differs from the total worked out from the items.
Every amount of an order must be in one currency; an order that mixes them is refused by name.

Times: Amazon writes UTC with a "Z" (every sample in the models does); they are kept as UTC
instants, never read in the channel's zone. Ids: OrderItemId is the line's platform id (what
confirmShipment names), ASIN the platform item id, SellerSKU the seller code (and our SKU code
when it is one). Buyer and address come from getOrders read with a Restricted Data Token; a
version without them keeps what we hold."""

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from django.utils.translation import gettext as _

from integrations.adapters import money, unit_price
from integrations.amazon.marketplaces import MARKETPLACES

ORDER_ITEMS = "OrderItems"  # where the client puts the order's getOrderItems items

UNPAID_STATUSES = frozenset({"Pending", "PendingAvailability"})
PAID_STATUSES = frozenset({"Unshipped", "PartiallyShipped", "Shipped", "InvoiceUnconfirmed"})
CANCELLED = "Canceled"
NOT_OURS = frozenset({"Unfulfillable"})  # Multi-Channel Fulfillment only
AMAZON_FULFILLED = "AFN"
ZERO = Decimal("0.00")
MAX_TITLE, MAX_DISCOUNT_TITLE = 255, 120
MONEY_FIELDS = (
    "ItemPrice",
    "ItemTax",
    "ShippingPrice",
    "ShippingTax",
    "ShippingDiscount",
    "ShippingDiscountTax",
    "PromotionDiscount",
    "PromotionDiscountTax",
    "CODFee",
    "CODFeeDiscount",
)
GIFT_WRAP_FIELDS = ("GiftWrapPrice", "GiftWrapTax")

HeldOrder = (
    dict  # {"currency", "customer", "shipping_address" or None, "lines"}: integrations.amazon.selectors
)


def order_id(order: dict) -> str:
    value = order.get("AmazonOrderId")
    if not isinstance(value, str) or not value:
        raise ValueError(_("The Amazon order has no AmazonOrderId."))
    return value


def version_id(order: dict) -> str:
    """One stored message per version of an order (its LastUpdateDate as Amazon wrote it)."""
    return f"poll:{order_id(order)}:{order.get('LastUpdateDate') or ''}"


def utc(value, field: str) -> datetime | None:
    """An Amazon timestamp ("2026-03-09T06:30:00Z") as an aware UTC datetime; one without an
    offset is refused: Amazon writes UTC, and guessing a zone is the bug this guards against."""
    if value in (None, ""):
        return None
    moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise ValueError(
            _("Amazon %(field)s %(value)r has no time zone offset.") % {"field": field, "value": value}
        )
    return moment


def order_to_canonical(
    order: dict, channel, *, held: Callable[[], HeldOrder | None] | None = None
) -> dict | None:
    """The canonical order, or None for a version that is not an order for us (see the module
    docstring). `held` gives the order as we hold it (integrations.amazon.selectors), asked only
    for a cancelled order or a version without its address."""
    status = order.get("OrderStatus")
    if status not in UNPAID_STATUSES | PAID_STATUSES | NOT_OURS | {CANCELLED}:
        raise ValueError(_("Unknown Amazon OrderStatus %(status)r.") % {"status": status})
    if status in UNPAID_STATUSES or status in NOT_OURS or order.get("FulfillmentChannel") == AMAZON_FULFILLED:
        return None
    items = order.get(ORDER_ITEMS)
    if not isinstance(items, list):
        raise ValueError(_("The Amazon order %(id)s carries no OrderItems.") % {"id": order_id(order)})
    live = [item for item in items if _quantity(item) != 0]
    cancelled = status == CANCELLED or not live
    held_order = held() if held is not None and (cancelled or not _address(order)) else None
    if cancelled and held_order is not None:
        return _as_held(order, channel, held_order)
    if cancelled and (not live or not all(_stated(item, "ItemPrice") for item in live)):
        return None  # never taken, and Amazon no longer states what it sold: nothing to record
    for item in live:
        if not _stated(item, "ItemPrice"):
            raise ValueError(
                _("Amazon order item %(item)s of a paid order has no ItemPrice.")
                % {"item": item.get("OrderItemId")}
            )
    marketplace_id = order.get("MarketplaceId") or (getattr(channel, "api_credentials", None) or {}).get(
        "marketplace_id"
    )
    market = MARKETPLACES.get(marketplace_id or "")
    if market is None:
        raise ValueError(_("Unknown Amazon MarketplaceId %(id)r.") % {"id": marketplace_id})
    canonical = {
        **_header(order, channel),
        "currency": _currency(order, live, market),
        "lines": [_line(item) for item in live],
        "shipping_fee": str(_sum(live, "ShippingPrice")),
        "shipping_discount": str(_sum(live, "ShippingDiscount")),
        "shipping_tax": str(_sum(live, "ShippingTax") - _sum(live, "ShippingDiscountTax")),
        "tax_included": market.tax_included,
        "paid": not cancelled,
        "cancelled": cancelled,
    }
    if _stated(order, "OrderTotal"):
        canonical["paid_amount"] = str(money(order["OrderTotal"]["Amount"]))
    _contact(canonical, order, held_order)
    return canonical


def _as_held(order: dict, channel, held_order: HeldOrder) -> dict | None:
    """A cancelled version of an order we hold: its lines and money as held, cancelled."""
    if not held_order["lines"]:
        return None
    canonical = {
        **_header(order, channel),
        "currency": held_order["currency"],
        "lines": held_order["lines"],
        "paid": False,
        "cancelled": True,
    }
    _contact(canonical, order, held_order)
    return canonical


def _header(order: dict, channel) -> dict:
    header = {
        "channel": channel.code,
        "external_id": order_id(order),
        "placed_at": _iso(utc(order.get("PurchaseDate"), "PurchaseDate")),
    }
    updated = utc(order.get("LastUpdateDate"), "LastUpdateDate")
    if updated is not None:
        header["updated_at"] = _iso(updated)
    return header


def _contact(canonical: dict, order: dict, held_order: HeldOrder | None) -> None:
    """Buyer and shipping address from the order (read with an RDT); a version without a usable
    address keeps the ones we hold, so a later version never blanks them."""
    address = _address(order)
    if address is None and held_order is not None:
        canonical["customer"] = held_order["customer"]
        if held_order["shipping_address"]:
            canonical["shipping_address"] = held_order["shipping_address"]
        return
    buyer = order.get("BuyerInfo") or {}
    shipping = order.get("ShippingAddress") or {}
    canonical["customer"] = {
        "name": str(buyer.get("BuyerName") or shipping.get("Name") or ""),
        "email": str(buyer.get("BuyerEmail") or ""),
        "phone": str(shipping.get("Phone") or ""),
    }
    if address is not None:
        canonical["shipping_address"] = address


def _address(order: dict) -> dict | None:
    """The canonical address, or None when Amazon's lacks what an address needs (restricted
    fields are only there when getOrders was read with an RDT)."""
    shipping = order.get("ShippingAddress")
    if not isinstance(shipping, dict):
        return None
    streets = [str(shipping.get(f"AddressLine{n}") or "").strip() for n in (1, 2, 3)]
    streets = [street for street in streets if street]
    country, city = str(shipping.get("CountryCode") or ""), str(shipping.get("City") or "")
    if not (country and city and streets):
        return None
    return {
        "name": str(shipping.get("Name") or ""),
        "country": country,
        "province": str(shipping.get("StateOrRegion") or ""),
        "city": city,
        "district": str(shipping.get("District") or shipping.get("County") or ""),
        "line1": streets[0],
        "line2": ", ".join(streets[1:]),
        "postcode": str(shipping.get("PostalCode") or ""),
        "phone": str(shipping.get("Phone") or ""),
    }


def _line(item: dict) -> dict:
    quantity = _quantity(item)
    unit, remainder = unit_price(_money(item, "ItemPrice"), quantity if quantity > 0 else 1)
    wrap = item.get("BuyerInfo") if isinstance(item.get("BuyerInfo"), dict) else {}
    charges = _money(item, "CODFee") - _money(item, "CODFeeDiscount") + _money(wrap, "GiftWrapPrice")
    seller_code = str(item.get("SellerSKU") or "")
    discount = _money(item, "PromotionDiscount")
    line = {
        "sku": seller_code or None,
        "platform_line_id": str(item.get("OrderItemId") or ""),
        "platform_item_id": str(item.get("ASIN") or ""),
        "seller_code": seller_code,
        "title": str(item.get("Title") or "")[:MAX_TITLE],
        "quantity": quantity,
        "unit_price": str(unit),
        "adjustment": str(remainder + charges),
        "discount": str(discount),
        "tax_amount": str(
            _money(item, "ItemTax") - _money(item, "PromotionDiscountTax") + _money(wrap, "GiftWrapTax")
        ),
    }
    promotions = [str(p) for p in item.get("PromotionIds") or [] if p]
    if discount and promotions:
        line["discount_allocations"] = [
            {
                "amount": str(discount),
                "funded_by": "merchant",
                "title": ", ".join(promotions)[:MAX_DISCOUNT_TITLE],
            }
        ]
    return line


def _currency(order: dict, items: list[dict], market) -> str:
    """The one currency of every amount the order states (the marketplace's when it states none)."""
    amounts = [order.get("OrderTotal")]
    for item in items:
        amounts += [item.get(field) for field in MONEY_FIELDS]
        wrap = item.get("BuyerInfo") if isinstance(item.get("BuyerInfo"), dict) else {}
        amounts += [wrap.get(field) for field in GIFT_WRAP_FIELDS]
    found = {str(a["CurrencyCode"]) for a in amounts if isinstance(a, dict) and a.get("CurrencyCode")}
    if len(found) > 1:
        raise ValueError(
            _("Amazon order %(id)s states amounts in several currencies: %(codes)s.")
            % {"id": order_id(order), "codes": ", ".join(sorted(found))}
        )
    return found.pop() if found else market.currency


def _quantity(item: dict) -> int:
    quantity = item.get("QuantityOrdered")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
        raise ValueError(
            _("Amazon order item %(item)s has QuantityOrdered %(quantity)r.")
            % {"item": item.get("OrderItemId"), "quantity": quantity}
        )
    return quantity


def _money(holder: dict, field: str) -> Decimal:
    value = holder.get(field)
    return money(value.get("Amount")) if isinstance(value, dict) else ZERO


def _sum(items: list[dict], field: str) -> Decimal:
    return sum((_money(item, field) for item in items), ZERO)


def _stated(holder: dict, field: str) -> bool:
    value = holder.get(field)
    return isinstance(value, dict) and value.get("Amount") not in (None, "")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
