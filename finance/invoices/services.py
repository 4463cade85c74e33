"""E-invoice actions: request, issue through the outbox, poll the result, retry, and red-letter
reversals when refunds go through (called by the refund-succeeded service, never a signal).

Lifecycle of a request: requested → issuing (the provider accepted it) → issued (number, PDF /
OFD) → reversing (a red-letter under way) → issued again after a partial reversal, or reversed.
A refusal or a failed issue → failed (the desk queue; retry → requested, same number).

Issuing is asynchronous at the provider: `invoices_poll` (config/beat.py) asks for everything
issuing or being reversed. Exactly once: our request number is the provider's order number; a
repeated submission is refused as a duplicate (Nuonuo E9106), which we take as "submitted".
"""

import logging
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.alerts import alert_raise, alert_resolve
from core.errors import DomainError
from core.http import PlatformError, RateLimited, outbox_outcome
from core.models import OutboxMessage
from core.outbox import PermanentFailure, outbox_enqueue
from core.roles import Role
from core.sequences import next_values
from core.timezones import business_zone
from core.transitions import Actor, lock_one, require_perm, transition
from finance.invoices.amounts import RateLine, RefundShare, order_invoice_lines, split_tax
from finance.invoices.models import (
    BuyerKind,
    InvoiceLine,
    InvoiceRefund,
    InvoiceRequest,
    InvoiceReversal,
    InvoiceState,
    InvoiceType,
    ReversalState,
)
from finance.invoices.nuonuo import NuonuoProvider
from finance.invoices.provider import (
    FAILED,
    ISSUED,
    BlueInvoice,
    InvoiceProvider,
    InvoiceResult,
    ProviderRefused,
    RedInvoice,
)
from orders.models import Order, OrderEventKind
from orders.transitions import lock_order, record_order_event

logger = logging.getLogger(__name__)

ISSUE_KIND = "finance.invoice.issue"
REVERSE_KIND = "finance.invoice.reverse"
PROVIDERS: dict[str, type] = {"nuonuo": NuonuoProvider}
QUERY_BATCH = 50  # queryInvoiceResult takes at most 50 order numbers
S = InvoiceState


def invoice_provider() -> InvoiceProvider:
    return PROVIDERS[settings.INVOICE_PROVIDER]()


def _number(prefix: str) -> str:
    day = timezone.now().astimezone(business_zone()).date()
    [value] = next_values(name="invoice", day=day)
    return f"{prefix}{day:%Y%m%d}{value:06d}"  # 15 characters: Nuonuo's orderNo holds 20


def refund_shares(order: Order) -> list[RefundShare]:
    return [
        RefundShare(
            amount=refund.amount,
            lines={int(no): Decimal(amount) for no, amount in refund.lines.items()},
            shipping=refund.shipping,
        )
        for refund in InvoiceRefund.objects.filter(order=order)
    ]


def _event(order: Order, actor: Actor, text: str, **payload) -> None:
    record_order_event(order, OrderEventKind.NOTE, actor, reason=text, payload={"invoice": payload})


def _enqueue_issue(request: InvoiceRequest) -> None:
    """One message per sending (the first, then each desk retry); the caller holds the lock."""
    sent = OutboxMessage.objects.filter(
        kind=ISSUE_KIND, idempotency_key__startswith=f"invoice:{request.number}:"
    )
    outbox_enqueue(
        kind=ISSUE_KIND,
        payload={"invoice": request.pk},
        idempotency_key=f"invoice:{request.number}:{sent.count() + 1}",
    )


@transaction.atomic
def invoice_request_create(
    *,
    order: Order,
    buyer_kind: str,
    invoice_type: str,
    buyer_title: str,
    buyer_tax_id: str = "",
    buyer_email: str = "",
    buyer_phone: str = "",
    actor: Actor = None,
) -> InvoiceRequest:
    """Ask for the order's invoice: amounts per tax rate from the order as sold less refunds."""
    require_perm(actor, "finance.add_invoicerequest", _("You are not allowed to request invoices."))
    order = lock_order(order)
    if order.paid_at is None:
        raise DomainError(_("%(order)s is not paid: nothing to invoice yet.") % {"order": order.number})
    buyer_tax_id = buyer_tax_id.strip().upper()
    if buyer_kind == BuyerKind.COMPANY and not buyer_tax_id:
        raise DomainError(_("A company invoice needs the buyer's tax id."), field="buyer_tax_id")
    if invoice_type == InvoiceType.SPECIAL and buyer_kind != BuyerKind.COMPANY:
        raise DomainError(_("A special VAT invoice is for companies only."), field="invoice_type")
    if InvoiceRequest.objects.filter(order=order).exclude(state=S.REVERSED).exists():
        raise DomainError(_("%(order)s already has an invoice request.") % {"order": order.number})
    lines = order_invoice_lines(order, refund_shares(order))
    total = sum((line.amount for line in lines), Decimal("0.00"))
    if total <= 0:
        raise DomainError(_("Nothing left to invoice: the order was refunded in full."))
    request = InvoiceRequest.objects.create(
        number=_number("INV"),
        order=order,
        buyer_kind=buyer_kind,
        invoice_type=invoice_type,
        buyer_title=buyer_title.strip(),
        buyer_tax_id=buyer_tax_id,
        buyer_email=buyer_email.strip(),
        buyer_phone=buyer_phone.strip(),
        currency=order.currency,
        amount=total,
        provider=settings.INVOICE_PROVIDER,
        requested_by=actor,
    )
    _write_lines(request, lines)
    _event(
        order,
        actor,
        _("Invoice %(number)s requested (%(amount)s).") % {"number": request.number, "amount": total},
        number=request.number,
    )
    _enqueue_issue(request)
    return request


def _write_lines(request: InvoiceRequest, lines: list[RateLine]) -> None:
    request.lines.all().delete()
    InvoiceLine.objects.bulk_create(
        InvoiceLine(
            request=request,
            index=index,
            tax_rate=line.tax_rate,
            amount=line.amount,
            net_amount=line.net_amount,
            tax_amount=line.tax_amount,
        )
        for index, line in enumerate(lines, start=1)
    )


def _lock(request_id: int) -> InvoiceRequest:
    return lock_one(InvoiceRequest.objects.select_related("order"), request_id)


def _fail(request_id: int, error: str) -> None:
    with transaction.atomic():
        request = _lock(request_id)
        if request.state not in (S.REQUESTED, S.ISSUING):
            return
        transition(request, "fail", None, args={"error": error})
        _event(
            request.order,
            None,
            _("Invoice %(number)s failed: %(error)s") % {"number": request.number, "error": error},
            number=request.number,
        )
        alert_raise(
            kind="invoice_failed",
            key=f"invoice_failed:{request.number}",
            role=Role.FINANCE,
            message=_("Invoice %(number)s for %(order)s failed: %(error)s")
            % {"number": request.number, "order": request.order.number, "error": error[:300]},
            payload={"invoice": request.number},
        )


def invoice_issue_deliver(message: OutboxMessage) -> None:
    """Outbox handler: submit the request to the provider (no lock held during the call)."""
    request = InvoiceRequest.objects.filter(pk=message.payload.get("invoice")).first()
    if request is None:
        raise PermanentFailure(f"invoice request #{message.payload.get('invoice')} does not exist")
    if request.state != S.REQUESTED:
        return  # submitted before (at-least-once delivery)
    provider = invoice_provider()
    if not provider.configured():
        raise PermanentFailure(f"the invoice provider {provider.name} is not configured")
    serial = ""
    try:
        if request.provider_serial:  # accepted before, then failed to issue: the provider's retry
            provider.reissue(request.number)
        else:
            blue = BlueInvoice(
                number=request.number,
                buyer_title=request.buyer_title,
                buyer_tax_id=request.buyer_tax_id,
                buyer_email=request.buyer_email,
                buyer_phone=request.buyer_phone,
                special=request.is_special,
                lines=[
                    RateLine(line.tax_rate, line.amount, line.net_amount, line.tax_amount)
                    for line in request.lines.all()
                ],
                ordered_at=request.order.placed_at or request.created_at,
            )
            serial = provider.issue(blue)
    except ProviderRefused as exc:
        if not exc.duplicate:
            _fail(request.pk, str(exc))
            return
        logger.info("invoice %s: already submitted (%s); polling it", request.number, exc)
    except (PlatformError, RateLimited) as exc:
        raise outbox_outcome(exc) from exc
    with transaction.atomic():
        request = _lock(request.pk)
        if request.state != S.REQUESTED:
            return
        transition(request, "submit", None, args={"serial": serial})


def invoice_retry(*, request: InvoiceRequest, actor: Actor) -> InvoiceRequest:
    """Desk: send a failed request again (same number, so the provider issues it at most once)."""
    with transaction.atomic():
        request = _lock(request.pk)
        if request.state != S.FAILED:
            raise DomainError(_("Only a failed invoice can be retried."))
        lines = order_invoice_lines(request.order, refund_shares(request.order))
        total = sum((line.amount for line in lines), Decimal("0.00"))
        if total <= 0:
            raise DomainError(_("Nothing left to invoice: the order was refunded in full."))
        if not request.provider_serial:  # never accepted: the amounts may follow later refunds
            _write_lines(request, lines)
            request.amount = total
        transition(request, "retry", actor, forbidden=_("You are not allowed to retry invoices."))
        _event(
            request.order,
            actor,
            _("Invoice %(number)s sent again.") % {"number": request.number},
            number=request.number,
        )
        alert_resolve(key=f"invoice_failed:{request.number}", actor=actor)
        _enqueue_issue(request)
    return request


# --- the provider's results ---------------------------------------------------------------------


def invoices_poll() -> int:
    """Ask the provider about every invoice issuing and every red-letter sent; returns how many
    changed. Safe to run twice at once: each change is made under the row lock, state checked."""
    provider = invoice_provider()
    if not provider.configured():
        return 0
    requests = list(InvoiceRequest.objects.filter(state=S.ISSUING).values_list("pk", "number"))
    reversals = list(
        InvoiceReversal.objects.filter(state=ReversalState.SUBMITTED).values_list("pk", "number")
    )
    wanted = [number for _pk, number in requests + reversals]
    results: dict[str, InvoiceResult] = {}
    for start in range(0, len(wanted), QUERY_BATCH):
        results.update(provider.query(wanted[start : start + QUERY_BATCH]))
    changed = 0
    for pk, number in requests:
        changed += _apply_blue(pk, results[number])
    for pk, number in reversals:
        changed += _apply_red(pk, results[number])
    return changed


def _apply_blue(request_id: int, result: InvoiceResult) -> int:
    if result.status == FAILED:
        _fail(request_id, result.error or _("The provider could not issue the invoice."))
        return 1
    if result.status != ISSUED:
        return 0
    with transaction.atomic():
        request = _lock(request_id)
        if request.state != S.ISSUING:
            return 0
        transition(
            request,
            "issue",
            None,
            args={
                "invoice_number": result.invoice_number,
                "pdf_url": result.pdf_url,
                "ofd_url": result.ofd_url,
                "issued_at": result.issued_at or timezone.now(),
                "serial": result.serial,
            },
        )
        _event(
            request.order,
            None,
            _("Invoice %(number)s issued: %(invoice)s.")
            % {"number": request.number, "invoice": result.invoice_number},
            number=request.number,
        )
        if result.amount is not None and result.amount != request.amount:
            alert_raise(
                kind="invoice_amount_differs",
                key=f"invoice_amount:{request.number}",
                role=Role.FINANCE,
                message=_("Invoice %(number)s was issued for %(given)s, we asked for %(ours)s.")
                % {"number": request.number, "given": result.amount, "ours": request.amount},
                payload={"invoice": request.number},
            )
        _reverse_refunded(request)  # refunds that went through while it was being issued
    return 1


def _apply_red(reversal_id: int, result: InvoiceResult) -> int:
    if result.status not in (ISSUED, FAILED):
        return 0
    with transaction.atomic():
        request_id = InvoiceReversal.objects.filter(pk=reversal_id).values_list("request_id", flat=True).get()
        request = _lock(request_id)  # lock order: the request, then its reversal
        reversal = lock_one(InvoiceReversal.objects, reversal_id)
        if reversal.state != ReversalState.SUBMITTED:
            return 0
        if result.status == FAILED:
            reversal.state, reversal.error = ReversalState.FAILED, result.error[:2000]
            reversal.save(update_fields=["state", "error"])
            _reversal_failed_alert(request, reversal)
            return 1
        reversal.state, reversal.completed_at = ReversalState.DONE, timezone.now()
        reversal.invoice_number, reversal.pdf_url, reversal.ofd_url = (
            result.invoice_number,
            result.pdf_url,
            result.ofd_url,
        )
        reversal.save(update_fields=["state", "completed_at", "invoice_number", "pdf_url", "ofd_url"])
        _event(
            request.order,
            None,
            _("Red-letter %(number)s of invoice %(invoice)s issued (%(amount)s).")
            % {"number": reversal.number, "invoice": request.number, "amount": reversal.amount},
            number=request.number,
        )
        open_ones = request.reversals.exclude(state=ReversalState.DONE).exists()
        if request.state == S.REVERSING and not open_ones:
            fully = not any(_current_lines(request).values())
            transition(request, "end_full_reversal" if fully else "end_partial_reversal", None)
    return 1


def _reversal_failed_alert(request: InvoiceRequest, reversal: InvoiceReversal) -> None:
    alert_raise(
        kind="invoice_reversal_failed",
        key=f"invoice_reversal_failed:{reversal.number}",
        role=Role.FINANCE,
        message=_("Red-letter %(number)s of invoice %(invoice)s failed: %(error)s")
        % {"number": reversal.number, "invoice": request.number, "error": reversal.error[:300]},
        payload={"invoice": request.number, "reversal": reversal.number},
    )


# --- refunds → red-letter -------------------------------------------------------------------------


def invoice_refund_recorded(
    *, order_id: int, key: str, amount: Decimal, lines: dict[int, Decimal], shipping: Decimal
) -> None:
    """A refund went through (called by returns' refund-succeeded service, in its transaction):
    remember it for invoicing and reverse what an issued invoice now says too much. Idempotent
    by `key`."""
    with transaction.atomic():
        _refund, created = InvoiceRefund.objects.get_or_create(
            key=key,
            defaults={
                "order_id": order_id,
                "amount": amount,
                "lines": {str(no): str(value) for no, value in lines.items()},
                "shipping": shipping,
            },
        )
        if not created:
            return
        live = InvoiceRequest.objects.filter(order_id=order_id).exclude(state=S.REVERSED).first()
        if live is None:
            return
        request = _lock(live.pk)
        if request.state in (S.REQUESTED, S.FAILED) and not request.provider_serial:
            _refresh_unsent(request)
        elif request.state in (S.ISSUED, S.REVERSING):
            _reverse_refunded(request)
        # issuing: the reversal follows once it is issued (_apply_blue)


def _refresh_unsent(request: InvoiceRequest) -> None:
    """A request the provider never accepted follows the refund: new amounts, or nothing to do."""
    lines = order_invoice_lines(request.order, refund_shares(request.order))
    total = sum((line.amount for line in lines), Decimal("0.00"))
    if total <= 0:
        if request.state == S.REQUESTED:
            transition(request, "fail", None, args={"error": _("Refunded in full before it was issued.")})
        return
    _write_lines(request, lines)
    request.amount = total
    request.save(update_fields=["amount", "updated_at"])


def _current_lines(request: InvoiceRequest) -> dict[int, Decimal]:
    """What the blue invoice still says per line, after the reversals not failed."""
    reversals = list(request.reversals.exclude(state=ReversalState.FAILED))
    if any(reversal.full for reversal in reversals):
        return {}
    left = {line.index: line.amount for line in request.lines.all()}
    for reversal in reversals:
        for line in reversal.lines:
            left[line["index"]] += Decimal(line["amount"])  # negative
    return left


def _reverse_refunded(request: InvoiceRequest) -> InvoiceReversal | None:
    """Red-letter what the issued invoice says beyond the order net of refunds (caller holds the
    request's lock): all of it when nothing is left, else the provider's partial red-letter."""
    if request.state not in (S.ISSUED, S.REVERSING):
        return None
    left = _current_lines(request)
    if not left or not any(left.values()):
        return None
    target = {
        line.tax_rate: line.amount
        for line in order_invoice_lines(request.order, refund_shares(request.order))
    }
    blue = {line.index: line for line in request.lines.all()}
    cuts = {
        index: amount - min(target.get(blue[index].tax_rate, Decimal("0.00")), amount)
        for index, amount in left.items()
    }
    cuts = {index: cut for index, cut in cuts.items() if cut > 0}
    if not cuts:
        return None
    full = (
        all(cuts.get(index, 0) == amount for index, amount in left.items())
        and not request.reversals.exclude(state=ReversalState.FAILED).exists()
    )
    red_lines = []
    if not full:
        for index, cut in sorted(cuts.items()):
            part = split_tax(cut, blue[index].tax_rate)
            red_lines.append(
                {
                    "index": index,
                    "tax_rate": format(part.tax_rate.normalize(), "f"),
                    "amount": str(-part.amount),
                    "net_amount": str(-part.net_amount),
                    "tax_amount": str(-part.tax_amount),
                }
            )
    reversal = InvoiceReversal.objects.create(
        request=request,
        number=_number("RED"),
        full=full,
        amount=sum(cuts.values(), Decimal("0.00")),
        lines=red_lines,
    )
    transition(request, "start_reversal", None)
    _event(
        request.order,
        None,
        _("Red-letter %(number)s of invoice %(invoice)s requested (%(amount)s).")
        % {"number": reversal.number, "invoice": request.number, "amount": reversal.amount},
        number=request.number,
    )
    outbox_enqueue(
        kind=REVERSE_KIND, payload={"reversal": reversal.pk}, idempotency_key=f"invoice-red:{reversal.number}"
    )
    return reversal


def invoice_reverse_deliver(message: OutboxMessage) -> None:
    """Outbox handler: ask the provider for the red-letter (no lock held during the call)."""
    reversal = (
        InvoiceReversal.objects.select_related("request").filter(pk=message.payload.get("reversal")).first()
    )
    if reversal is None:
        raise PermanentFailure(f"red-letter #{message.payload.get('reversal')} does not exist")
    if reversal.state != ReversalState.PENDING:
        return
    request = reversal.request
    red = RedInvoice(
        number=reversal.number,
        blue_number=request.number,
        blue_invoice_number=request.invoice_number,
        buyer_title=request.buyer_title,
        buyer_tax_id=request.buyer_tax_id,
        special=request.is_special,
        lines=[
            (
                line["index"],
                RateLine(
                    Decimal(line["tax_rate"]),
                    Decimal(line["amount"]),
                    Decimal(line["net_amount"]),
                    Decimal(line["tax_amount"]),
                ),
            )
            for line in reversal.lines
        ],
    )
    provider = invoice_provider()
    if not provider.configured():
        raise PermanentFailure(f"the invoice provider {provider.name} is not configured")
    reference, error = "", ""
    try:
        reference = provider.reverse(red)
    except ProviderRefused as exc:
        error = str(exc)
    except (PlatformError, RateLimited) as exc:
        raise outbox_outcome(exc) from exc
    with transaction.atomic():
        request = _lock(request.pk)
        reversal = lock_one(InvoiceReversal.objects, reversal.pk)
        if reversal.state != ReversalState.PENDING:
            return
        reversal.state = ReversalState.FAILED if error else ReversalState.SUBMITTED
        reversal.error, reversal.provider_reference = error[:2000], reference[:64]
        reversal.save(update_fields=["state", "error", "provider_reference"])
        if error:
            _reversal_failed_alert(request, reversal)


def invoice_reversal_retry(*, reversal: InvoiceReversal, actor: Actor) -> None:
    """Desk: send a failed red-letter again (same red number)."""
    require_perm(actor, "finance.retry_invoicerequest", _("You are not allowed to retry invoices."))
    with transaction.atomic():
        request = _lock(reversal.request_id)
        reversal = lock_one(InvoiceReversal.objects, reversal.pk)
        if reversal.state != ReversalState.FAILED:
            raise DomainError(_("Only a failed red-letter can be retried."))
        reversal.state, reversal.error = ReversalState.PENDING, ""
        reversal.save(update_fields=["state", "error"])
        tries = OutboxMessage.objects.filter(
            idempotency_key__startswith=f"invoice-red:{reversal.number}"
        ).count()
        outbox_enqueue(
            kind=REVERSE_KIND,
            payload={"reversal": reversal.pk},
            idempotency_key=f"invoice-red:{reversal.number}:{tries + 1}",
        )
        alert_resolve(key=f"invoice_reversal_failed:{reversal.number}", actor=actor)
        _event(
            request.order,
            actor,
            _("Red-letter %(number)s sent again.") % {"number": reversal.number},
            number=request.number,
        )
