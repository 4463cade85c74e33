"""Shopify order JSON (webhooks and Admin REST) → canonical order."""

from decimal import Decimal

from integrations.adapters import money

MAX_TAGS, MAX_TAG_LENGTH = 20, 40


def order_to_canonical(payload: dict, channel) -> dict | None:
    if not payload.get("line_items"):  # e.g. orders/delete carries only the id
        return None
    lines = [_line(item) for item in payload["line_items"]]
    line_discounts = sum((Decimal(line["discount"]) for line in lines), Decimal("0.00"))
    shipping_fee = sum((money(s.get("price")) for s in payload.get("shipping_lines") or []), Decimal("0.00"))
    paid = payload.get("financial_status") == "paid"
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
        # total_discounts includes the line discounts; the order keeps only what is left.
        "discount": str(max(money(payload.get("total_discounts")) - line_discounts, Decimal("0.00"))),
        "paid": paid,
        "cancelled": payload.get("cancelled_at") is not None,
        "buyer_ip": payload.get("browser_ip") or None,
        "note": payload.get("note") or "",
        "tags": _tags(payload.get("tags")),
    }
    if payload.get("shipping_address"):  # absent: nothing ships, or the order waits for an address
        canonical["shipping_address"] = _address(payload["shipping_address"])
    if paid and payload.get("processed_at"):
        canonical["paid_at"] = payload["processed_at"]
    if canonical["updated_at"] is None:
        del canonical["updated_at"]
    return canonical


def _line(item: dict) -> dict:
    return {
        "sku": item.get("sku") or "",
        "quantity": item.get("quantity"),
        "unit_price": str(money(item.get("price"))),
        "discount": str(money(item.get("total_discount"))),
    }


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
