"""Shopify order JSON (orders webhooks and Admin REST `Order`) → canonical order.

Money, all in shop money (the order's `currency`), from the Order resource
(https://shopify.dev/docs/api/admin-rest/latest/resources/order):
- a line's list price is `price` × `quantity`; its discounts are its `discount_allocations`
  (each kept, named from `discount_applications[discount_application_index]`). The deprecated
  per-line `total_discount` is not read: Shopify's own sample order 450789469 says "0.00" there
  while its allocations are 3.34/3.33/3.33. Shopify has no funding field: every discount is the
  merchant's.
- Order-level discounts (codes, automatic, manual) are already allocated to the lines and the
  shipping lines, so the canonical order discount is only what `total_discounts` has beyond
  every allocation (none on a genuine order).
- Tax per line from its `tax_lines` (amounts summed, rates summed: Shopify's rates are additive,
  e.g. state 0.06 + county 0.025); `taxes_included` says whether prices include it.
- Shipping: `shipping_lines[].price`, their `discount_allocations` (the shipping discount) and
  their `tax_lines` (shipping tax).
- What the buyer paid is `total_price` (the order as placed: line items, discounts, shipping,
  taxes). `current_total_price` follows later edits and refunds, which Conduit records as
  refunds, so it is not the amount sold.
- Ids: `product_id` and `variant_id` are the platform's item and SKU ids, `sku` the seller code
  (and our SKU code when it is one; an empty `sku` leaves the line to the item mapping)."""

from decimal import Decimal

from integrations.adapters import money

MAX_TAGS, MAX_TAG_LENGTH = 20, 40
MAX_TITLE, MAX_DISCOUNT_TITLE = 255, 120
ZERO = Decimal("0.00")
# Shopify financial_status values meaning the buyer paid (a later partial refund is a refund,
# recorded as such; the order was paid).
PAID_STATUSES = {"paid", "partially_refunded"}


def order_to_canonical(payload: dict, channel) -> dict | None:
    if not payload.get("line_items"):  # e.g. orders/delete carries only the id
        return None
    applications = payload.get("discount_applications") or []
    lines = [_line(item, applications) for item in payload["line_items"]]
    shipping_lines = payload.get("shipping_lines") or []
    shipping_fee = _sum(_shop(s, "price") for s in shipping_lines)
    shipping_discount = _sum(_shipping_discount(s) for s in shipping_lines)
    allocated = _sum(Decimal(line["discount"]) for line in lines) + shipping_discount
    paid = payload.get("financial_status") in PAID_STATUSES
    canonical = {
        "channel": channel.code,
        "external_id": str(payload["id"]),
        "placed_at": payload.get("created_at"),  # ISO 8601 with the shop's offset: kept as given
        "updated_at": payload.get("updated_at"),
        "currency": payload.get("currency"),
        "customer": _customer(payload),
        "lines": lines,
        # Store pickup and digital goods: every line says it needs no shipping.
        "requires_shipping": any(item.get("requires_shipping", True) for item in payload["line_items"]),
        "shipping_fee": str(shipping_fee),
        "shipping_discount": str(shipping_discount),
        "shipping_tax": str(_sum(_tax(s.get("tax_lines"))[0] for s in shipping_lines)),
        "tax_included": bool(payload.get("taxes_included")),
        "discount": str(max(_shop(payload, "total_discounts") - allocated, ZERO)),
        "paid": paid,
        "cancelled": payload.get("cancelled_at") is not None,
        "buyer_ip": payload.get("browser_ip") or None,
        "note": payload.get("note") or "",
        "tags": _tags(payload.get("tags")),
    }
    if payload.get("total_price") not in (None, ""):
        canonical["paid_amount"] = str(_shop(payload, "total_price"))
    if payload.get("shipping_address"):  # absent: nothing ships, or the order waits for an address
        canonical["shipping_address"] = _address(payload["shipping_address"])
    if paid and payload.get("processed_at"):
        canonical["paid_at"] = payload["processed_at"]
    if canonical["updated_at"] is None:
        del canonical["updated_at"]
    return canonical


def _line(item: dict, applications: list) -> dict:
    allocations = [_allocation(a, applications) for a in item.get("discount_allocations") or []]
    tax, rate = _tax(item.get("tax_lines"))
    line = {
        "sku": item.get("sku") or None,
        "platform_line_id": _id(item.get("id")),
        "platform_item_id": _id(item.get("product_id")),
        "platform_sku_id": _id(item.get("variant_id")),
        "seller_code": item.get("sku") or "",
        "title": (item.get("name") or item.get("title") or "")[:MAX_TITLE],
        "quantity": item.get("quantity"),
        "unit_price": str(_shop(item, "price")),
        "discount": str(_sum(Decimal(a["amount"]) for a in allocations)),
        "discount_allocations": allocations,
        "tax_amount": str(tax),
    }
    if rate is not None:
        line["tax_rate"] = str(rate)
    return line


def _allocation(allocation: dict, applications: list) -> dict:
    index = allocation.get("discount_application_index")
    application = {}
    if isinstance(index, int) and 0 <= index < len(applications):
        application = applications[index] or {}
    title = application.get("title") or application.get("code") or application.get("description") or ""
    return {
        "amount": str(_shop(allocation, "amount")),
        "funded_by": "merchant",  # Shopify states no funding: discounts are the merchant's
        "title": str(title)[:MAX_DISCOUNT_TITLE],
    }


def _shipping_discount(shipping_line: dict) -> Decimal:
    if "discount_allocations" in shipping_line:
        return _sum(_shop(a, "amount") for a in shipping_line["discount_allocations"] or [])
    # Older payloads without allocations: the price less the discounted price Shopify states.
    if shipping_line.get("discounted_price") in (None, ""):
        return ZERO
    return max(_shop(shipping_line, "price") - _shop(shipping_line, "discounted_price"), ZERO)


def _tax(tax_lines: list | None) -> tuple[Decimal, Decimal | None]:
    """(tax amount, rate) of a line's `tax_lines`. The rate is the sum of the rates; None when a
    rate is missing or needs more than the four decimals a line's rate keeps."""
    tax_lines = tax_lines or []
    amount = _sum(_shop(t, "price") for t in tax_lines)
    rates = [t.get("rate") for t in tax_lines]
    if not rates or any(r in (None, "") for r in rates):
        return amount, None
    rate = sum((Decimal(str(r)) for r in rates), Decimal(0))
    exact = rate.quantize(Decimal("0.0001"))
    return amount, (exact if exact == rate and 0 <= rate <= 1 else None)


def _shop(obj: dict, key: str) -> Decimal:
    """An amount in shop money: `<key>_set.shop_money.amount` when given, else `<key>`."""
    shop_money = ((obj.get(f"{key}_set") or {}).get("shop_money") or {}).get("amount")
    return money(shop_money if shop_money not in (None, "") else obj.get(key))


def _sum(amounts) -> Decimal:
    return sum(amounts, ZERO)


def _id(value) -> str:
    return "" if value in (None, "") else str(value)


def _customer(payload: dict) -> dict:
    customer = payload.get("customer") or {}
    name = " ".join(filter(None, [customer.get("first_name"), customer.get("last_name")]))
    return {
        "name": name,
        "email": payload.get("email") or customer.get("email") or "",
        "phone": payload.get("phone") or customer.get("phone") or "",
    }


def _address(address: dict) -> dict:
    return {
        "name": address.get("name") or "",
        "country": address.get("country_code") or "",
        "province": address.get("province") or "",
        "city": address.get("city") or "",
        "line1": address.get("address1") or "",
        "line2": address.get("address2") or "",
        "postcode": address.get("zip") or "",
        "phone": address.get("phone") or "",
    }


def _tags(tags: str | None) -> list[str]:
    """Shopify sends "a, b, c"; tags are labels, so over-long ones are cut rather than the order refused."""
    names = [tag.strip()[:MAX_TAG_LENGTH] for tag in (tags or "").split(",")]
    return [name for name in names if name][:MAX_TAGS]
