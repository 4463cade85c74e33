"""Platform after-sales requests (JD, Pinduoduo, Douyin, …) as RMAs in the returns desk (issue #16
part 6, R-R1 for platforms).

A request polled from its platform (integrations.after_sales) arrives here as a canonical
after-sale (that module's docstring is the contract). The first version creates the RMA (source
"platform", one per order and platform reference); later versions move it FORWARD to match the
platform, through the RMA's own transitions, each one an event on the order's timeline:

  requested        → nothing to do (the RMA waits as "requested")
  approved         → approved
  awaiting_return  → awaiting return, with the return waybill (refund-only: approved)
  returned         → the same as awaiting return: our warehouse receives and inspects the goods
  refunded         → the refund the platform made is recorded (a succeeded refund, provider
                     "platform", and once in finance); a refund-only request is refunded and closed;
                     a return waits for its goods (inspection then finds the refund already made)
  rejected         → rejected (cancelled when it was approved already)
  closed           → cancelled (withdrawn by the buyer, closed by the platform): its claim on the
                     order's units is released

Never backwards: an RMA further on than the platform stays where it is. The platform's update
time of the version applied is kept on the RMA (`external_updated_at`); an older version read
later changes nothing. Bad input raises DomainError naming the field and writes nothing."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError
from core.money import MoneySum
from core.transitions import lock_one
from integrations import after_sales as platform_after_sales
from integrations.models import InboundMessage, InboundStatus
from orders.models import Order
from returns import policy as policies
from returns.models import (
    R,
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
from returns.platform import as_shipped, book_platform_refund, sold_lines, take_units
from returns.transitions import lock_order, record_rma_event, run_rma_transition

KINDS = {
    "refund_only": ReturnKind.REFUND_ONLY,
    "return": ReturnKind.RETURN,
    "exchange": ReturnKind.EXCHANGE,
}
STATES = ("requested", "approved", "rejected", "awaiting_return", "returned", "refunded", "closed")
CENT = Decimal("0.01")
# RMA states from which the platform may still cancel or reject the request.
WITHDRAWABLE = (R.REQUESTED, R.APPROVED, R.AWAITING_RETURN)
FINISHED = (R.REJECTED, R.CANCELLED, R.CLOSED)


@dataclass(frozen=True)
class AfterSale:
    """A canonical after-sale, checked."""

    external_ref: str
    kind: str
    state: str
    refund_amount: Decimal | None
    currency: str
    lines: list[dict]
    reason: str
    return_carrier: str
    return_tracking: str
    updated_at: datetime


def process_platform_after_sale(message: InboundMessage, payload: dict):
    """Topic processor for integrations.after_sales.AFTER_SALE_TOPIC: (order, status). The raw
    record is mapped by its platform's mapping; an order not known yet fails the message naming
    it (replay it once the order is in)."""
    try:
        canonical = platform_after_sales.after_sale_canonical(message.channel, payload)
    except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
        raise DomainError(
            _("The after-sale record cannot be mapped: %(error)s") % {"error": exc}, field="after_sale"
        ) from exc
    if canonical is None:
        return None, InboundStatus.IGNORED
    order_id = str(canonical.get("order_external_id") or "")
    if not order_id:
        raise DomainError(_("The after-sale names no order."), field="order_external_id")
    order = Order.objects.filter(channel=message.channel, external_id=order_id).first()
    if order is None:
        raise DomainError(
            _("Order %(id)s of this channel is not known here yet.") % {"id": order_id},
            field="order_external_id",
        )
    rma_sync_platform_after_sale(order=order, after_sale=canonical)
    return order, InboundStatus.PROCESSED


def rma_sync_platform_after_sale(*, order: Order, after_sale: dict) -> tuple[ReturnRequest, bool]:
    """The platform's after-sale on `order` as an RMA: (rma, changed). Creates it the first time,
    moves it forward to the platform's state afterwards; a stale version changes nothing."""
    data = _checked(after_sale, order)
    with transaction.atomic():
        order = lock_order(order.pk)
        rma_id = (
            ReturnRequest.objects.filter(order=order, external_ref=data.external_ref)
            .values_list("pk", flat=True)
            .first()
        )
        if rma_id is None:
            rma = _open(order, data)
            changed = True
        else:
            rma = lock_one(ReturnRequest.objects, rma_id)
            rma.order = order
            if rma.external_updated_at is not None and data.updated_at < rma.external_updated_at:
                return rma, False  # an older version, read late
            changed = rma.external_state != data.state
        moved = _advance(rma, data)
        changed = changed or moved
        if changed or rma.external_updated_at != data.updated_at:
            ReturnRequest.objects.filter(pk=rma.pk).update(
                external_state=data.state, external_updated_at=data.updated_at
            )
            rma.external_state, rma.external_updated_at = data.state, data.updated_at
    return rma, changed


# --- the RMA ------------------------------------------------------------------------------------


def _open(order: Order, data: AfterSale) -> ReturnRequest:
    """A new RMA for the request, "requested", with its lines (each unit claimed once)."""
    lines = _resolve_lines(order, data)
    rma = ReturnRequest.objects.create(
        number=allocate_rma_number(),
        order=order,
        kind=KINDS[data.kind],
        reason=ReturnReason.OTHER,
        source=ReturnSource.PLATFORM,
        description=data.reason[:2000],
        external_ref=data.external_ref,
        contact_name=order.customer_name,
        contact_phone=order.customer_phone,
        contact_email=order.customer_email,
    )
    ReturnLine.objects.bulk_create(
        ReturnLine(rma=rma, order_line=line, sku=line.sku, quantity=quantity) for line, quantity in lines
    )
    record_rma_event(
        rma,
        None,
        _("Return %(rma)s opened from the platform's after-sales request %(ref)s (%(state)s).")
        % {"rma": rma.number, "ref": data.external_ref, "state": _state_label(data.state)},
        lines=rma_event_lines(rma),
        rma_to=rma.status,
        platform_state=data.state,
    )
    return rma


def _advance(rma: ReturnRequest, data: AfterSale) -> bool:
    """Move the locked RMA forward to the platform's state; True when anything changed."""
    before = (rma.status, rma.return_tracking_number)
    why = _("On the platform: %(state)s.") % {"state": _state_label(data.state)}
    booked = False
    if data.state == "refunded":
        booked = _book_refund(rma, data)
    if rma.status in FINISHED:
        if data.state != rma.external_state and data.state not in ("closed", "rejected"):
            record_rma_event(
                rma,
                None,
                _("The platform reports %(ref)s as %(state)s; return %(rma)s is already %(status)s.")
                % {
                    "ref": data.external_ref,
                    "state": _state_label(data.state),
                    "rma": rma.number,
                    "status": rma.get_status_display(),
                },
                platform_state=data.state,
            )
        return booked
    if data.state in ("rejected", "closed"):
        _withdraw(rma, data, why)
    elif data.state != "requested":
        if rma.status == R.REQUESTED:
            run_rma_transition(rma, "approve", None, reason=why, args={"by": None})
        if data.state in ("awaiting_return", "returned", "refunded"):
            _await_return(rma, data, why)
        if data.state == "refunded" and rma.kind == ReturnKind.REFUND_ONLY and rma.status == R.APPROVED:
            run_rma_transition(rma, "mark_refunded", None, reason=why)
            run_rma_transition(rma, "close", None, reason=_("Refunded on the platform; no goods come back."))
    return booked or (rma.status, rma.return_tracking_number) != before


def _withdraw(rma: ReturnRequest, data: AfterSale, why: str) -> None:
    """Rejected or closed on the platform: rejected while still requested, else cancelled while the
    goods have not arrived (the units are free again). Later, only noted: the goods are here."""
    if data.state == "rejected" and rma.status == R.REQUESTED:
        run_rma_transition(rma, "reject", None, reason=why, args={"reason": why[:255]})
    elif rma.status in WITHDRAWABLE:
        run_rma_transition(rma, "cancel", None, reason=why, args={"reason": why[:255]})
    elif data.state != rma.external_state:
        record_rma_event(
            rma,
            None,
            _(
                "The platform reports %(ref)s as %(state)s, but return %(rma)s is already "
                "%(status)s: check it."
            )
            % {
                "ref": data.external_ref,
                "state": _state_label(data.state),
                "rma": rma.number,
                "status": rma.get_status_display(),
            },
            platform_state=data.state,
        )


def _await_return(rma: ReturnRequest, data: AfterSale, why: str) -> None:
    """Goods on their way back: "awaiting return" with the platform's return waybill (a waybill
    learnt later is added). The warehouse receives them here; the platform never does that for us."""
    if rma.kind == ReturnKind.REFUND_ONLY:
        return
    if rma.status == R.APPROVED and data.state in ("awaiting_return", "returned"):
        run_rma_transition(
            rma,
            "await_return",
            None,
            reason=why,
            args={"carrier": None, "tracking_number": data.return_tracking[:64]},
            payload={"return_carrier": data.return_carrier, "return_tracking": data.return_tracking},
        )
    elif (
        rma.status == R.AWAITING_RETURN
        and data.return_tracking
        and data.return_tracking[:64] != rma.return_tracking_number
    ):
        ReturnRequest.objects.filter(pk=rma.pk).update(return_tracking_number=data.return_tracking[:64])
        rma.return_tracking_number = data.return_tracking[:64]
        record_rma_event(
            rma,
            None,
            _("Return waybill of %(rma)s from the platform: %(carrier)s %(tracking)s.")
            % {"rma": rma.number, "carrier": data.return_carrier, "tracking": data.return_tracking},
            return_carrier=data.return_carrier,
            return_tracking=data.return_tracking,
        )


def _book_refund(rma: ReturnRequest, data: AfterSale) -> bool:
    """The platform refunded: its amount recorded once as this RMA's succeeded refund and in
    finance. An amount above what the order has left to refund is refused (never booked)."""
    amount = data.refund_amount
    if amount is None or amount <= 0:
        if data.state != rma.external_state:
            record_rma_event(
                rma,
                None,
                _("The platform reports %(ref)s refunded without saying how much; nothing was booked.")
                % {"ref": data.external_ref},
            )
        return False
    if ReturnRefund.objects.filter(rma=rma).exists():
        return False  # booked before (or refunded here): the platform's amount is not booked twice
    order = rma.order
    ceiling = order.paid_amount if order.paid_amount is not None else order.total
    before = ReturnRefund.objects.filter(order=order).exclude(state=RefundState.FAILED).aggregate(
        total=MoneySum("amount")
    )["total"] or Decimal("0.00")
    if ceiling is not None and amount + before > ceiling:
        raise DomainError(
            _(
                "The platform's refund of %(amount)s %(currency)s is more than order %(order)s has left "
                "to refund (%(left)s)."
            )
            % {"amount": amount, "currency": order.currency, "order": order.number, "left": ceiling - before},
            field="refund_amount",
        )
    book_platform_refund(
        rma=rma, amount=amount, external_ref=data.external_ref, provider=RefundProvider.PLATFORM
    )
    return True


# --- checking the canonical after-sale ----------------------------------------------------------


def _checked(after_sale: Any, order: Order) -> AfterSale:
    if not isinstance(after_sale, dict):
        raise DomainError(_("The after-sale is not an object."), field="after_sale")
    ref = after_sale.get("external_ref")
    if not isinstance(ref, str) or ":" not in ref or not ref.split(":", 1)[1] or len(ref) > 100:
        raise DomainError(
            _("external_ref must be “<platform>:<id>” (at most 100 characters)."), field="external_ref"
        )
    kind, state = after_sale.get("kind"), after_sale.get("state")
    if kind not in KINDS:
        raise DomainError(_("Unknown after-sale kind %(v)r.") % {"v": kind}, field="kind")
    if state not in STATES:
        raise DomainError(_("Unknown after-sale state %(v)r.") % {"v": state}, field="state")
    amount = after_sale.get("refund_amount")
    if amount is not None:
        try:
            amount = Decimal(str(amount))
        except InvalidOperation as exc:
            raise DomainError(_("refund_amount is not an amount."), field="refund_amount") from exc
        if not amount.is_finite() or amount < 0 or amount != amount.quantize(CENT):
            raise DomainError(
                _("refund_amount must be zero or more, to the cent (%(v)s).") % {"v": amount},
                field="refund_amount",
            )
        amount = amount.quantize(CENT)
    currency = str(after_sale.get("currency") or order.currency)
    if currency != order.currency:
        raise DomainError(
            _("The after-sale is in %(theirs)s, order %(order)s in %(ours)s.")
            % {"theirs": currency, "order": order.number, "ours": order.currency},
            field="currency",
        )
    updated_at = after_sale.get("updated_at")
    if not isinstance(updated_at, datetime) or timezone.is_naive(updated_at):
        raise DomainError(_("updated_at must be an aware date and time."), field="updated_at")
    lines = after_sale.get("lines")
    if not isinstance(lines, list):
        raise DomainError(_("lines must be a list."), field="lines")
    for index, line in enumerate(lines):
        quantity = line.get("quantity") if isinstance(line, dict) else None
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise DomainError(
                _("lines[%(i)s].quantity must be a whole number of at least 1.") % {"i": index}, field="lines"
            )
    texts = {}
    for name in ("reason", "return_carrier", "return_tracking"):
        value = after_sale.get(name) or ""
        if not isinstance(value, str):
            raise DomainError(_("%(field)s must be text.") % {"field": name}, field=name)
        texts[name] = value.strip()
    return AfterSale(
        external_ref=ref,
        kind=kind,
        state=state,
        refund_amount=amount,
        currency=currency,
        lines=lines,
        updated_at=updated_at,
        **texts,
    )


def _resolve_lines(order: Order, data: AfterSale) -> list[tuple[Any, int]]:
    """The request's lines as our order lines: by the platform's line id, else its SKU id, else the
    seller's code (the line's seller code or our SKU code), spread over lines of the same item; a
    bundle's units are its components. Goods coming back must not claim units another open
    request claims already."""
    order_lines = sold_lines(order)
    wanted: dict[int, int] = {}
    for index, item in enumerate(data.lines):
        keys = {name: str(item.get(name) or "").strip() for name in ("platform_line_id", "platform_sku_id")}
        code = str(item.get("seller_code") or "").strip()
        matching = (
            [
                line
                for line in order_lines
                if keys["platform_line_id"] and line.platform_line_id == keys["platform_line_id"]
            ]
            or [
                line
                for line in order_lines
                if keys["platform_sku_id"] and line.platform_sku_id == keys["platform_sku_id"]
            ]
            or [line for line in order_lines if code and code in (line.seller_code, line.sku.code)]
        )
        label = keys["platform_line_id"] or keys["platform_sku_id"] or code or "?"
        if not matching:
            raise DomainError(
                _("lines[%(i)s]: item %(item)s is not on order %(order)s.")
                % {"i": index, "item": label, "order": order.number},
                field="lines",
            )
        # What was sold counts, not what is still live: a refund cancels the lines it refunds.
        if take_units(matching, item["quantity"], wanted, live=False):
            raise DomainError(
                _("lines[%(i)s]: more units of %(item)s than order %(order)s has.")
                % {"i": index, "item": label, "order": order.number},
                field="lines",
            )
    shipped = as_shipped(order_lines, wanted)
    allowances = policies.line_allowances(order)
    result = []
    for entry in shipped:
        allowance = allowances[entry["order_line"]]
        if data.kind != "refund_only" and entry["quantity"] > allowance.line.quantity - allowance.claimed:
            raise DomainError(
                _("%(sku)s: %(n)s units are already in another open return of order %(order)s.")
                % {"sku": allowance.line.sku.code, "n": allowance.claimed, "order": order.number},
                field="lines",
            )
        result.append((allowance.line, entry["quantity"]))
    return result


def _state_label(state: str) -> str:
    return {
        "requested": _("requested"),
        "approved": _("approved"),
        "rejected": _("rejected"),
        "awaiting_return": _("waiting for the goods"),
        "returned": _("goods returned to the seller"),
        "refunded": _("refunded"),
        "closed": _("closed or withdrawn"),
    }[state]
