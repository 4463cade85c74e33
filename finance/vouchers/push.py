"""Push to accounting: an approved (released) voucher batch goes to the accounting system its
layout names (Kingdee or Yonyou, finance.vouchers.accounting), one voucher at a time, through the
outbox. The file download stays as it is.

`voucher_push` (the desk button) marks the batch "pushing" and enqueues one message keyed by the
batch and its push attempt; `voucher_push_deliver` (the outbox handler) sends every voucher not yet
in the batch's `push_results` and records each id and number the system gives as soon as it has
it, so a retry never sends an accepted voucher again. A voucher whose answer was lost is caught by
the adapter (the system's own idempotency or a look-up by our reference). A refusal fails the
batch with the system's message; "Push again" makes a new attempt that skips what went through.
"""

from collections import defaultdict

import httpx
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError, TransitionRefused
from core.http import TIMEOUT
from core.models import OutboxMessage
from core.outbox import PermanentFailure, is_last_attempt, outbox_enqueue
from core.transitions import lock_one, require_perm
from finance.vouchers.accounting import (
    PushedVoucher,
    VoucherLine,
    VoucherToPush,
    adapter_for,
    credentials_problem,
    options_problem,
)
from finance.vouchers.models import AccountingSystem, PushState, VoucherBatch, VoucherState

KIND = "finance.voucher_push"
MAX_ERROR = 1000


def reference(batch_id: int, voucher_no: int) -> str:
    """Our voucher's reference in the accounting system: the same on every attempt."""
    return f"CONDUIT-VB{batch_id}-{voucher_no}"


def voucher_push(*, batch_id: int, actor) -> VoucherBatch:
    """Ask for an approved batch to be pushed to its layout's accounting system."""
    require_perm(actor, "finance.add_voucherbatch", _("You are not allowed to push vouchers."))
    with transaction.atomic():
        batch = lock_one(VoucherBatch.objects.select_related("layout__accounting_system"), batch_id)
        if batch.state != VoucherState.APPROVED:
            raise TransitionRefused(_("Vouchers are pushed only after a second finance user approves them."))
        if batch.push_state == PushState.PENDING:
            raise TransitionRefused(_("This batch is being pushed already."))
        if batch.push_state == PushState.PUSHED:
            raise TransitionRefused(_("This batch is in the accounting system already."))
        system = batch.layout.accounting_system
        if system is None or not system.is_active:
            raise DomainError(
                _("The layout “%(layout)s” names no active accounting system to push to.")
                % {"layout": batch.layout.name}
            )
        problem = options_problem(system)
        if problem:
            raise DomainError(f"{system.name}: {problem}")
        if batch.push_results and batch.push_system_id not in (None, system.pk):
            raise DomainError(
                _("Part of this batch is in %(system)s already: push it there, not to another system.")
                % {"system": batch.push_system}
            )
        batch.push_attempt += 1
        batch.push_state, batch.push_error = PushState.PENDING, ""
        batch.push_system, batch.push_requested_by = system, actor
        batch.save(
            update_fields=["push_attempt", "push_state", "push_error", "push_system", "push_requested_by"]
        )
        outbox_enqueue(
            kind=KIND,
            payload={"batch": batch.pk},
            idempotency_key=f"{KIND}:{batch.pk}:{batch.push_attempt}",
        )
    return batch


def voucher_push_deliver(message: OutboxMessage) -> None:
    """The outbox handler: send the batch's vouchers not yet in the accounting system."""
    batch = VoucherBatch.objects.select_related("push_system").filter(pk=message.payload.get("batch")).first()
    if batch is None:
        raise PermanentFailure(f"voucher batch #{message.payload.get('batch')} does not exist")
    if batch.push_state != PushState.PENDING:
        return  # decided before (at-least-once delivery)
    system = batch.push_system
    try:
        problem = credentials_problem(system)
        if not problem and options_problem(system):
            problem = f"{system.name}: {options_problem(system)}"
        if problem:
            raise PermanentFailure(problem)
        vouchers = vouchers_to_push(batch, system)
        with httpx.Client(timeout=TIMEOUT) as http:
            adapter = adapter_for(system, http)
            for voucher in vouchers:
                _record_voucher(batch.pk, voucher.number, adapter.push(voucher))
    except PermanentFailure as exc:
        _record_failure(batch.pk, str(exc))
        raise
    except Exception as exc:
        if is_last_attempt(message):
            _record_failure(batch.pk, str(exc) or type(exc).__name__)
        raise
    _record_pushed(batch.pk)


def vouchers_to_push(batch: VoucherBatch, system: AccountingSystem) -> list[VoucherToPush]:
    """The batch's vouchers not yet pushed, account codes mapped to the system's. A voucher in
    another currency than the book's is refused before anything is sent: its book amounts would
    need an exchange rate the batch does not carry."""
    account_map = {str(k): str(v).strip() for k, v in (system.account_map or {}).items()}
    lines: dict[int, list] = defaultdict(list)
    for entry in batch.entries.order_by("voucher_no", "line_no"):
        lines[entry.voucher_no].append(entry)
    foreign = sorted({e.currency for entries in lines.values() for e in entries} - {system.base_currency})
    if foreign:
        raise PermanentFailure(
            _("Only vouchers in %(book)s can be pushed to %(system)s; this batch has %(others)s.")
            % {"book": system.base_currency, "system": system.name, "others": ", ".join(foreign)}
        )
    period = batch.period
    return [
        VoucherToPush(
            reference=reference(batch.pk, number),
            number=number,
            date=entries[0].date,
            year=period.year,
            month=period.month,
            currency=entries[0].currency,
            lines=tuple(
                VoucherLine(
                    summary=e.summary,
                    account=account_map.get(e.account) or e.account,
                    debit=e.debit,
                    credit=e.credit,
                )
                for e in entries
            ),
        )
        for number, entries in sorted(lines.items())
        if str(number) not in batch.push_results
    ]


def _record_voucher(batch_id: int, voucher_no: int, pushed: PushedVoucher) -> None:
    with transaction.atomic():
        batch = lock_one(VoucherBatch.objects, batch_id)
        batch.push_results = {
            **batch.push_results,
            str(voucher_no): {"id": pushed.id, "number": pushed.number},
        }
        batch.save(update_fields=["push_results"])


def _record_pushed(batch_id: int) -> None:
    with transaction.atomic():
        batch = lock_one(VoucherBatch.objects, batch_id)
        if batch.push_state == PushState.PENDING:
            batch.push_state, batch.push_error, batch.pushed_at = PushState.PUSHED, "", timezone.now()
            batch.save(update_fields=["push_state", "push_error", "pushed_at"])


def _record_failure(batch_id: int, error: str) -> None:
    with transaction.atomic():
        batch = lock_one(VoucherBatch.objects, batch_id)
        if batch.push_state == PushState.PENDING:
            batch.push_state, batch.push_error = PushState.FAILED, error[:MAX_ERROR]
            batch.save(update_fields=["push_state", "push_error"])
