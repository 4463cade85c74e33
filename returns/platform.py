"""Platform after-sales (R-R1 for platforms): Shopify's `refunds/create` webhook becomes an RMA,
settled at once when no goods come back.

https://shopify.dev/docs/api/admin-rest/2024-10/resources/refund — the payload names the order
(`order_id`), the refunded line items (`refund_line_items[].line_item.sku` and `.variant_id`, `quantity`,
`restock_type`) and the money (`transactions[]` of kind "refund" with status "success").

The webhook is verified and stored by integrations.services like any other; this processor runs
when the stored message is processed. A refund we pushed ourselves (its note names one of our
RMA numbers) only links back to that RMA; any other creates one RMA per Shopify refund id (the
unique platform reference is the deduplication)."""

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError
from finance.revenue import revenue_record_refund
from integrations.models import InboundMessage, InboundStatus
from orders.bundles import component_quantities
from orders.models import LineKind, Order
from returns import policy as policies
from returns.models import (
    RefundProvider,
    RefundState,
    ReturnKind,
    ReturnLine,
    ReturnReason,
    ReturnRefund,
    ReturnRequest,
    ReturnSource,
)
from returns.opening import allocate_rma_number, rma_event_lines
from returns.transitions import lock_order, record_rma_event, run_rma_transition

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


def rma_record_platform_refund(
    *,
    order: Order,
    external_ref: str,
    lines: list[dict[str, Any]],
    amount: Decimal,
    goods_back: bool,
    note: str = "",
) -> tuple[ReturnRequest, bool]:
    """A refund the platform already made becomes an RMA (once per platform reference): goods that
    come back are received and inspected here as usual (the refund exists, so none is made again);
    a refund without goods is settled at once. The money is booked in finance once."""
    with transaction.atomic():
        order = lock_order(order.pk)
        existing = ReturnRequest.objects.filter(order=order, external_ref=external_ref).first()
        if existing is not None:
            return existing, False
        allowances = policies.line_allowances(order)
        wanted = {int(line["order_line"]): int(line["quantity"]) for line in lines}
        if goods_back and wanted:
            verdict = policies.judge(
                order,
                policies.policy_for(order.channel_id),
                allowances,
                wanted,
                now=timezone.now(),
                check_window=False,
            )
            if verdict.refusals:
                raise DomainError(" ".join(text for _f, text in verdict.refusals), field="refund_line_items")
        kind = ReturnKind.RETURN if goods_back and wanted else ReturnKind.REFUND_ONLY
        rma = ReturnRequest.objects.create(
            number=allocate_rma_number(),
            order=order,
            kind=kind,
            reason=ReturnReason.OTHER,
            source=ReturnSource.PLATFORM,
            description=note[:2000],
            external_ref=external_ref,
            contact_name=order.customer_name,
            contact_phone=order.customer_phone,
            contact_email=order.customer_email,
        )
        ReturnLine.objects.bulk_create(
            ReturnLine(
                rma=rma, order_line=allowances[line_id].line, sku=allowances[line_id].line.sku, quantity=qty
            )
            for line_id, qty in wanted.items()
            if line_id in allowances
        )
        record_rma_event(
            rma,
            None,
            _("Return %(rma)s opened from the platform's refund %(ref)s.")
            % {"rma": rma.number, "ref": external_ref},
            lines=rma_event_lines(rma),
            rma_to=rma.status,
        )
        run_rma_transition(rma, "approve", None, reason=_("Approved on the platform."))
        if amount and amount > 0:
            book_platform_refund(
                rma=rma, amount=amount, external_ref=external_ref, provider=RefundProvider.SHOPIFY
            )
        if kind == ReturnKind.REFUND_ONLY:
            run_rma_transition(rma, "mark_refunded", None)
            run_rma_transition(rma, "close", None, reason=_("Refunded on the platform; no goods come back."))
    return rma, True


def book_platform_refund(
    *, rma: ReturnRequest, amount: Decimal, external_ref: str, provider: str
) -> ReturnRefund:
    """Inside the caller's transaction (order and RMA locked, no refund row yet): the refund the
    platform made, as the RMA's refund (succeeded, nothing sent) and once in finance."""
    order = rma.order
    refund = ReturnRefund.objects.create(
        rma=rma,
        order=order,
        amount=amount,
        goods_amount=amount,
        currency=order.currency,
        provider=provider,
        state=RefundState.SUCCEEDED,
        provider_reference=external_ref.split(":", 1)[-1][:128],
        completed_at=timezone.now(),
        detail={"platform": True},
    )
    revenue_record_refund(
        order=order, amount=amount, reference=external_ref, currency=order.currency, note=rma.number
    )
    record_rma_event(
        rma,
        None,
        _("Refund of %(amount)s %(currency)s made on the platform (%(ref)s).")
        % {"amount": amount, "currency": order.currency, "ref": external_ref},
        refund=str(amount),
        refund_state=RefundState.SUCCEEDED,
    )
    return refund


def _our_rma(order: Order, note: str) -> ReturnRequest | None:
    numbers = RMA_NUMBER.findall(note)
    return ReturnRequest.objects.filter(order=order, number__in=numbers).first() if numbers else None


def _lines(order: Order, items: list) -> tuple[list[dict], bool]:
    """Refunded Shopify line items as our order lines (by SKU, spread over lines of that SKU). A
    bundle's units come back as its components (orders.bundles), which are what was shipped."""
    wanted: dict[int, int] = {}
    goods_back = False
    order_lines = sold_lines(order)
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise DomainError(
                _("refund_line_items[%(i)s] is not an object.") % {"i": index}, field="refund_line_items"
            )
        line_item = item.get("line_item") if isinstance(item.get("line_item"), dict) else {}
        sku = str(line_item.get("sku") or "").strip()
        variant = str(line_item.get("variant_id") or "").strip()
        try:
            quantity = int(item.get("quantity"))
        except (TypeError, ValueError) as exc:
            raise DomainError(
                _("refund_line_items[%(i)s].quantity is not a whole number.") % {"i": index},
                field="refund_line_items",
            ) from exc
        # By our SKU code; else by the variant id of a line mapped from it (its SKU field was empty
        # or the seller's own code: orders.item_mapping).
        matching = [line for line in order_lines if sku and line.sku.code == sku] or [
            line for line in order_lines if variant and line.platform_sku_id == variant
        ]
        if not matching or quantity < 1:
            raise DomainError(
                _("refund_line_items[%(i)s]: SKU “%(sku)s” is not on order %(order)s.")
                % {"i": index, "sku": sku, "order": order.number},
                field="refund_line_items",
            )
        goods_back = goods_back or item.get("restock_type") in GOODS_BACK
        if take_units(matching, quantity, wanted):
            raise DomainError(
                _("refund_line_items[%(i)s]: more units of %(sku)s than the order has.")
                % {"i": index, "sku": sku},
                field="refund_line_items",
            )
    return as_shipped(order_lines, wanted), goods_back


def sold_lines(order: Order) -> list:
    """The order's lines as sold with a SKU (bundles, not their components), by line number."""
    return list(
        order.lines.filter(sku__isnull=False)
        .exclude(kind=LineKind.COMPONENT)
        .select_related("sku")
        .prefetch_related("components")
        .order_by("line_no")
    )


def take_units(matching: list, quantity: int, wanted: dict[int, int], *, live: bool = True) -> int:
    """Spread `quantity` units over the matching lines into `wanted` (line id → units), each line
    up to its live quantity (or, `live=False`, all it sold); the units that found no room."""
    for line in matching:
        room = line.live_quantity if live else line.quantity
        take = min(quantity, room - wanted.get(line.pk, 0))
        if take > 0:
            wanted[line.pk] = wanted.get(line.pk, 0) + take
            quantity -= take
    return quantity


def as_shipped(order_lines: list, wanted: dict[int, int]) -> list[dict]:
    """Units of lines as sold as the lines that were shipped: a bundle's units are its components
    (orders.bundles)."""
    by_pk = {line.pk: line for line in order_lines}
    shipped: dict[int, int] = {}
    for pk, quantity in wanted.items():
        if by_pk[pk].kind == LineKind.BUNDLE:
            for component_id, units in component_quantities(by_pk[pk], quantity).items():
                shipped[component_id] = shipped.get(component_id, 0) + units
        else:
            shipped[pk] = shipped.get(pk, 0) + quantity
    return [{"order_line": pk, "quantity": qty} for pk, qty in shipped.items()]


def _refunded_amount(transactions: list) -> Decimal:
    total = Decimal("0.00")
    for index, entry in enumerate(transactions):
        if not isinstance(entry, dict):
            continue
        if entry.get("kind") != "refund" or entry.get("status") not in ("success", None):
            continue
        try:
            total += Decimal(str(entry.get("amount"))).quantize(Decimal("0.01"))
        except InvalidOperation as exc:
            raise DomainError(
                _("transactions[%(i)s].amount is not an amount.") % {"i": index}, field="transactions"
            ) from exc
    return total
