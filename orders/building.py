"""Building an order from a validated canonical order (orders.canonical.CanonicalOrder): its
number, customer identity, header, amounts, lines and "created" event. Pure construction: the
intake (orders.intake) decides what is written and when."""

from typing import Any

from core.instances import build
from core.money import ZERO
from core.sequences import next_values
from core.timezones import business_date
from core.transitions import Actor
from inventory import locks
from orders import addresses, amounts, bundles, phones
from orders.canonical import CanonicalOrder
from orders.models import (
    Customer,
    Order,
    OrderEvent,
    OrderEventKind,
    OrderLine,
    OrderStatus,
    Priority,
)


def allocate_order_number(moment=None) -> str:
    return allocate_order_numbers(1, moment)[0]


def allocate_order_numbers(count: int, moment=None) -> list[str]:
    day = business_date(moment)
    return [f"SO{day:%Y%m%d}{value:06d}" for value in next_values(name="order_number", day=day, count=count)]


def customer_identity(data: CanonicalOrder) -> tuple[str, dict] | None:
    """The customer's deduplication key (a valid phone in E.164 first, then e-mail) and the values
    to create it. A masked or unreadable phone is no identity: many buyers would share it."""
    contact = data.get("customer") or {}
    region = phone_region(data)
    phone = phones.e164(contact.get("phone", ""), region)
    email = (contact.get("email") or "").strip().lower()
    if not (phone or email):
        return None
    key = f"phone:{phone}" if phone else f"email:{email}"
    shown = phone or phones.display(contact.get("phone", ""), region)
    return key, {"name": contact.get("name", ""), "phone": shown, "email": email}


def phone_region(data: CanonicalOrder) -> str:
    """Numbers without a country code are read in the destination's country (channels do not
    record one), else in settings.PHONE_DEFAULT_REGION."""
    return (data.get("shipping_address") or {}).get("country", "")


def header_values(data: CanonicalOrder) -> dict[str, Any]:
    contact = data.get("customer") or {}
    address = data.get("shipping_address") or {}
    region = phone_region(data)
    values = {
        "customer_name": contact.get("name", ""),
        "customer_phone": phones.display(contact.get("phone", ""), region),
        "customer_email": (contact.get("email") or "").strip().lower(),
        "buyer_note": data.get("note", ""),
        "buyer_ip": data.get("buyer_ip") or None,
        "tags": list(data.get("tags") or []),
        "requires_shipping": data.get("requires_shipping", True),
        "receiver_protected": data.get("protected_receiver") or {},
        "ship_name": address.get("name", "") or contact.get("name", ""),
        "ship_phone": phones.display(address.get("phone", ""), region),
        "ship_country": address.get("country", ""),
        "ship_province": address.get("province", ""),
        "ship_city": address.get("city", ""),
        "ship_district": address.get("district", ""),
        "ship_line1": address.get("line1", ""),
        "ship_line2": address.get("line2", ""),
        "ship_postcode": address.get("postcode", ""),
    }
    return {**values, **addresses.placed(values)}  # official names, the district's centre


def amount_values(data: CanonicalOrder) -> dict[str, Any]:
    """The order's amounts as the platform states them (orders.amounts)."""
    return amounts.order_amounts(data)


def build_order(data: CanonicalOrder, *, number: str, customer: Customer | None) -> Order:
    """An unsaved order (and its amounts) from a validated canonical payload."""
    channel = data["channel"]
    priority = data.get("priority") or Priority.NORMAL
    if customer and customer.is_vip and priority == Priority.NORMAL:
        priority = Priority.VIP
    return build(
        Order,
        number=number,
        channel=channel,
        external_id=data["external_id"],
        customer=customer,
        priority=priority,
        currency=data["currency"],
        placed_at=data["placed_at"],
        platform_updated_at=data.get("updated_at"),
        channel_time_zone=channel.time_zone,
        **amount_values(data),
        **header_values(data),
    )


def build_lines(order: Order, data: CanonicalOrder) -> list[OrderLine]:
    tax_included = data.get("tax_included", False)
    return [
        build(
            OrderLine,
            order=order,
            line_no=index,
            kind=bundles.sold_kind(line["sku"], gift=line.get("gift", False)),
            sku=line["sku"],
            platform_line_id=line.get("platform_line_id", ""),
            platform_item_id=line.get("platform_item_id", ""),
            platform_sku_id=line.get("platform_sku_id", ""),
            seller_code=line.get("seller_code", ""),
            title=line.get("title", ""),
            quantity=line["quantity"],
            unit_price=line["unit_price"],
            discount=line.get("discount", ZERO),
            discount_allocations=[_jsonable_allocation(a) for a in line.get("discount_allocations") or []],
            platform_discount=line.get("platform_discount", ZERO),
            adjustment=line.get("adjustment", ZERO),
            order_discount_share=line.get("order_discount_share", ZERO),
            tax_amount=line.get("tax_amount", ZERO),
            tax_rate=line.get("tax_rate"),
            paid_amount=line.get("paid_amount", amounts.line_paid(line, tax_included=tax_included)),
            presale=line.get("presale", bool(line["sku"] and line["sku"].presale)),
        )
        for index, line in enumerate(data["lines"], start=1)
    ]


def _jsonable_allocation(allocation: dict) -> dict:
    return {
        "amount": str(allocation["amount"]),
        "funded_by": allocation.get("funded_by", "merchant"),
        "title": allocation.get("title", ""),
    }


def bind_checkout_locks(order: Order, lines: list[OrderLine], data: CanonicalOrder) -> dict[int, int]:
    """Lines that name a checkout lock take it as their reservation (inventory.locks)."""
    pairs = [
        (line, given["lock"]) for line, given in zip(lines, data["lines"], strict=True) if given.get("lock")
    ]
    return (
        locks.bind_locks(order=order, lines_with_locks=pairs, paid=order.status == OrderStatus.PAID)
        if pairs
        else {}
    )


def created_event(order: Order, actor: Actor, *, line_count: int) -> OrderEvent:
    return build(
        OrderEvent,
        order=order,
        kind=OrderEventKind.CREATED,
        actor=actor,
        to_status=OrderStatus.PENDING_PAYMENT,
        payload={"channel": order.channel.code, "external_id": order.external_id, "line_count": line_count},
    )
