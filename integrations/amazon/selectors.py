"""Reads the Amazon mapping needs from what Conduit already holds: an order as taken, in the
canonical shape, for a later version that no longer says it (a cancelled order's items come back
with no quantity; a version read without a Restricted Data Token has no buyer or address)."""

from orders.models import LineKind, Order


def order_as_held(channel, external_id: str) -> dict | None:
    """{"currency", "customer", "shipping_address" (None when we hold none), "lines"} of the
    channel's order, or None when it was never taken. Lines are the ones sold (goods and
    bundles) with the units still live, named as when they were taken."""
    order = Order.objects.filter(channel=channel, external_id=external_id).first()
    if order is None:
        return None
    lines = []
    sold = order.lines.filter(kind__in=[LineKind.GOODS, LineKind.BUNDLE]).select_related("sku")
    for line in sold.order_by("line_no"):
        if line.live_quantity <= 0:
            continue
        lines.append(
            {
                "sku": line.sku.code if line.sku_id else None,
                "platform_line_id": line.platform_line_id,
                "platform_item_id": line.platform_item_id,
                "platform_sku_id": line.platform_sku_id,
                "seller_code": line.seller_code,
                "title": line.title,
                "quantity": line.live_quantity,
                "unit_price": str(line.unit_price),
            }
        )
    address = None
    if order.ship_country and order.ship_city and order.ship_line1:
        address = {
            "name": order.ship_name,
            "country": order.ship_country,
            "province": order.ship_province,
            "city": order.ship_city,
            "district": order.ship_district,
            "line1": order.ship_line1,
            "line2": order.ship_line2,
            "postcode": order.ship_postcode,
            "phone": order.ship_phone,
        }
    return {
        "currency": order.currency,
        "customer": {
            "name": order.customer_name,
            "email": order.customer_email,
            "phone": order.customer_phone,
        },
        "shipping_address": address,
        "lines": lines,
    }
