"""The replacement order of an approved exchange, created through order intake like any other
order."""

from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError
from orders.canonical import CanonicalOrderInput
from orders.intake import order_ingest
from orders.models import Order, OrderEventKind
from orders.transitions import record_order_event
from returns.models import ReturnRequest
from returns.transitions import record_rma_event


def create_exchange_order(rma: ReturnRequest) -> Order:
    """The replacement order, created through order ingestion so that it is reserved, reviewed
    and routed like any other: same channel, customer and address, the original priority (VIP is
    kept), zero-priced and paid. A different replacement SKU is noted for the agent."""
    if rma.exchange_order_id:
        return rma.exchange_order
    original = rma.order
    lines, swaps = [], []
    for line in rma.lines.select_related("sku", "replacement_sku").order_by("order_line__line_no"):
        sku = line.replacement_sku or line.sku
        if sku.pk != line.sku_id:
            swaps.append(f"{line.sku.code} → {sku.code}")
        lines.append({"sku": sku.code, "quantity": line.quantity, "unit_price": "0.00"})
    payload = {
        "channel": original.channel.code,
        "external_id": f"EX-{rma.number}",
        "placed_at": timezone.now().isoformat(),
        "currency": original.currency,
        "customer": {
            "name": original.customer_name,
            "phone": original.customer_phone,
            "email": original.customer_email,
        },
        "shipping_address": {
            "name": original.ship_name,
            "country": original.ship_country,
            "province": original.ship_province,
            "city": original.ship_city,
            "district": original.ship_district,
            "line1": original.ship_line1,
            "line2": original.ship_line2,
            "postcode": original.ship_postcode,
            "phone": original.ship_phone,
        },
        "lines": lines,
        "shipping_fee": "0.00",
        "paid": True,
        "priority": original.priority,
        "tags": [*[t for t in original.tags if t != "exchange"][:19], "exchange"],
        "note": _("Exchange for %(order)s (%(rma)s)") % {"order": original.number, "rma": rma.number},
    }
    data = CanonicalOrderInput(data=payload)
    if not data.is_valid():
        raise DomainError(
            _("The exchange order cannot be created: %(errors)s") % {"errors": data.errors}, field="lines"
        )
    exchange, _created = order_ingest(data=data.validated_data, actor=None)
    rma.exchange_order = exchange
    if swaps:
        rma.exchange_note = (
            _("Replacement differs (%(swaps)s): settle any price difference with the customer.")
            % {"swaps": ", ".join(swaps)}
        )[:255]
    rma.save(update_fields=["exchange_order", "exchange_note", "updated_at"])
    record_rma_event(
        rma,
        None,
        _("Exchange order %(order)s created for %(rma)s.") % {"order": exchange.number, "rma": rma.number}
        + (f" {rma.exchange_note}" if rma.exchange_note else ""),
        exchange_order=exchange.number,
    )
    record_order_event(
        exchange,
        OrderEventKind.NOTE,
        None,
        reason=_("Exchange for order %(order)s, return %(rma)s.")
        % {"order": original.number, "rma": rma.number},
        payload={"rma": rma.number, "exchange_for": original.number},
    )
    return exchange
