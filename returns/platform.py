"""Platform after-sales (R-R1 for platforms): Shopify's `refunds/create` webhook becomes an RMA.

https://shopify.dev/docs/api/admin-rest/2024-10/resources/refund — the payload names the order
(`order_id`), the refunded line items (`refund_line_items[].line_item.sku`, `quantity`,
`restock_type`) and the money (`transactions[]` of kind "refund" with status "success").

The webhook is verified and stored by integrations.services like any other; this processor runs
when the stored message is processed. A refund we pushed ourselves (its note names one of our
RMA numbers) only links back to that RMA; any other creates one RMA per Shopify refund id (the
unique platform reference is the deduplication)."""

import re
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from core.errors import DomainError
from integrations.models import InboundMessage, InboundStatus
from integrations.services import register_topic_processor
from orders.models import Order
from returns.models import RefundProvider, ReturnRefund, ReturnRequest
from returns.services import rma_record_platform_refund

RMA_NUMBER = re.compile(r"RMA\d{14}")
# restock_type values that mean the goods come back to us (no_restock: money only).
GOODS_BACK = ("return", "legacy_restock")


def process_shopify_refund(message: InboundMessage, payload: dict):
    """(order, status) for a refunds/create message; DomainError names what is wrong."""
    refund_id, order_id = payload.get("id"), payload.get("order_id")
    if not refund_id or not order_id:
        raise DomainError(_("The refund names no id or order_id."), field="order_id")
    order = Order.objects.filter(channel=message.channel, external_id=str(order_id)).first()
    if order is None:
        raise DomainError(
            _("Order %(id)s of this channel is not known here yet.") % {"id": order_id}, field="order_id"
        )
    note = str(payload.get("note") or "")
    ours = _our_rma(order, note)
    if ours is not None:
        ReturnRefund.objects.filter(rma=ours, provider=RefundProvider.SHOPIFY, provider_reference="").update(
            provider_reference=str(refund_id)
        )
        return order, InboundStatus.PROCESSED
    lines, goods_back = _lines(order, payload.get("refund_line_items") or [])
    rma_record_platform_refund(
        order=order,
        external_ref=f"shopify:{refund_id}",
        lines=lines,
        amount=_refunded_amount(payload.get("transactions") or []),
        goods_back=goods_back,
        note=note,
    )
    return order, InboundStatus.PROCESSED


def _our_rma(order: Order, note: str) -> ReturnRequest | None:
    numbers = RMA_NUMBER.findall(note)
    return ReturnRequest.objects.filter(order=order, number__in=numbers).first() if numbers else None


def _lines(order: Order, items: list) -> tuple[list[dict], bool]:
    """Refunded Shopify line items as our order lines (by SKU, spread over lines of that SKU)."""
    wanted: dict[int, int] = {}
    goods_back = False
    order_lines = list(order.lines.select_related("sku").order_by("line_no"))
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise DomainError(
                _("refund_line_items[%(i)s] is not an object.") % {"i": index}, field="refund_line_items"
            )
        sku = str((item.get("line_item") or {}).get("sku") or "").strip()
        try:
            quantity = int(item.get("quantity"))
        except (TypeError, ValueError) as exc:
            raise DomainError(
                _("refund_line_items[%(i)s].quantity is not a whole number.") % {"i": index},
                field="refund_line_items",
            ) from exc
        matching = [line for line in order_lines if line.sku.code == sku]
        if not matching or quantity < 1:
            raise DomainError(
                _("refund_line_items[%(i)s]: SKU “%(sku)s” is not on order %(order)s.")
                % {"i": index, "sku": sku, "order": order.number},
                field="refund_line_items",
            )
        goods_back = goods_back or item.get("restock_type") in GOODS_BACK
        for line in matching:
            take = min(quantity, line.live_quantity - wanted.get(line.pk, 0))
            if take > 0:
                wanted[line.pk] = wanted.get(line.pk, 0) + take
                quantity -= take
        if quantity:
            raise DomainError(
                _("refund_line_items[%(i)s]: more units of %(sku)s than the order has.")
                % {"i": index, "sku": sku},
                field="refund_line_items",
            )
    return [{"order_line": pk, "quantity": qty} for pk, qty in wanted.items()], goods_back


def _refunded_amount(transactions: list) -> Decimal:
    total = Decimal("0.00")
    for index, transaction in enumerate(transactions):
        if not isinstance(transaction, dict):
            continue
        if transaction.get("kind") != "refund" or transaction.get("status") not in ("success", None):
            continue
        try:
            total += Decimal(str(transaction.get("amount"))).quantize(Decimal("0.01"))
        except InvalidOperation as exc:
            raise DomainError(
                _("transactions[%(i)s].amount is not an amount.") % {"i": index}, field="transactions"
            ) from exc
    return total


register_topic_processor("shopify", "refunds/create", process_shopify_refund)
