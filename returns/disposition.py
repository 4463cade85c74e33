"""Where returned units go (R-R3): intact ones into QC hold at the receiving warehouse until a
fast re-check releases or writes them off, damaged ones written off at once; and the alert for
re-checks that are overdue. Every stock movement has an idempotency key per RMA line and step."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.alerts import alert_resolve, alerts_raise_many
from core.errors import DomainError, TransitionRefused
from core.roles import Role
from core.transitions import Actor, lock_one, require_perm
from inventory import ledger
from inventory.models import MovementKind, Reservation, StockMovement
from inventory.services import post_one, stock_change, stock_qc_release
from returns.models import ReturnLine, ReturnRequest
from returns.transitions import lock_rma, record_rma_event


def _movement_key(rma: ReturnRequest, line: ReturnLine, step: str) -> str:
    """One stock movement per RMA line and step: a repeated submit or delivery moves stock once."""
    return f"rma:{rma.number}:{line.pk}:{step}"


def _returned_lot(line: ReturnLine) -> str:
    """A lot-tracked SKU comes back into the lot it was shipped from (its reservation's lot)."""
    if not line.sku.lot_tracked:
        return ""
    lot = (
        Reservation.objects.filter(order_line=line.order_line, balance__lot__isnull=False)
        .order_by("-pk")
        .values_list("balance__lot__code", flat=True)
        .first()
    )
    if not lot:
        raise DomainError(
            _("%(sku)s is lot-tracked and the lot it was shipped from is unknown.") % {"sku": line.sku.code},
            field="lines",
        )
    return lot


def dispose_line(rma: ReturnRequest, line: ReturnLine, actor: Actor, now: datetime) -> None:
    """Intact units into QC hold at the receiving warehouse (sellable after the re-check);
    damaged ones come back and are written off at once; wrong items change no stock."""
    warehouse = rma.warehouse
    reference = rma.number
    lot_code = _returned_lot(line)
    if line.intact_quantity:
        stock_change(
            kind=MovementKind.RETURN,
            sku=line.sku,
            warehouse=warehouse,
            quantity=line.intact_quantity,
            lot_code=lot_code,
            reference=reference,
            note=_("Returned intact, waits for re-check"),
            idempotency_key=_movement_key(rma, line, "intact"),
            actor=actor,
        )
        line.recheck_due_at = now + timedelta(hours=settings.QC_RECHECK_HOURS)
    if line.damaged_quantity:
        movement = stock_change(
            kind=MovementKind.RETURN,
            sku=line.sku,
            warehouse=warehouse,
            quantity=line.damaged_quantity,
            lot_code=lot_code,
            reference=reference,
            note=_("Returned damaged"),
            idempotency_key=_movement_key(rma, line, "damaged"),
            actor=actor,
        )
        post_one(
            ledger.Change(
                balance_id=movement.balance_id,
                sku_id=line.sku_id,
                kind=MovementKind.WRITE_OFF,
                on_hand=-line.damaged_quantity,
                qc_hold=-line.damaged_quantity,
                reference=reference,
                note=_("Damaged on return"),
                idempotency_key=_movement_key(rma, line, "write-off"),
            ),
            actor,
        )


def rma_recheck(*, line: ReturnLine | int, passed: bool, actor: Actor = None, note: str = "") -> ReturnLine:
    """The fast re-check of intact returned units: passed → available again (QC release);
    failed → written off. Once per line (the line row and an idempotency key say so)."""
    line_id = line.pk if isinstance(line, ReturnLine) else line
    rma_id = ReturnLine.objects.filter(pk=line_id).values_list("rma_id", flat=True).first()
    if rma_id is None:
        raise DomainError(_("No such return line."), field="line")
    with transaction.atomic():
        rma = lock_rma(rma_id)
        require_perm(actor, "returns.receive_returnrequest")
        line = lock_one(ReturnLine.objects.select_related("sku", "order_line"), line_id)
        if not line.awaits_recheck:
            raise TransitionRefused(_("This line does not wait for a re-check."))
        # The units wait on the balance the intact return went to (its pool and lot).
        balance = (
            StockMovement.objects.select_related("balance")
            .get(idempotency_key=_movement_key(rma, line, "intact"))
            .balance
        )
        quantity = line.intact_quantity
        reference = rma.number
        note_text = (note or (_("Re-check passed") if passed else _("Re-check failed")))[:255]
        key = _movement_key(rma, line, "recheck")
        try:
            if passed:
                stock_qc_release(
                    balance=balance,
                    quantity=quantity,
                    reference=reference,
                    note=note_text,
                    idempotency_key=key,
                    actor=actor,
                )
            else:
                post_one(
                    ledger.Change(
                        balance_id=balance.pk,
                        sku_id=line.sku_id,
                        kind=MovementKind.WRITE_OFF,
                        on_hand=-quantity,
                        qc_hold=-quantity,
                        reference=reference,
                        note=note_text,
                        idempotency_key=key,
                    ),
                    actor,
                )
        except ledger.InsufficientStock as exc:
            raise ledger.InsufficientStock(_("Those units are no longer in QC hold."), field="line") from exc
        line.rechecked_at, line.recheck_passed, line.rechecked_by = timezone.now(), passed, actor
        line.save(update_fields=["rechecked_at", "recheck_passed", "rechecked_by"])
        text = (
            _("Re-check of %(rma)s #%(no)s %(sku)s ×%(q)s passed: back in available stock.")
            if passed
            else _("Re-check of %(rma)s #%(no)s %(sku)s ×%(q)s failed: written off.")
        )
        record_rma_event(
            rma,
            actor,
            text % {"rma": rma.number, "no": line.order_line.line_no, "sku": line.sku.code, "q": quantity}
            + (f" {note.strip()}" if note.strip() else ""),
            recheck="passed" if passed else "failed",
        )
        alert_resolve(key=f"return_recheck:{line.pk}", actor=actor)
    return line


def alert_overdue_rechecks(*, now: datetime | None = None) -> int:
    """Intact returned units still in QC hold past their re-check deadline: one alert per line
    for the warehouse (raising again only bumps it)."""
    now = now or timezone.now()
    overdue = (
        ReturnLine.objects.filter(recheck_due_at__lt=now, rechecked_at__isnull=True, intact_quantity__gt=0)
        .select_related("rma", "sku", "rma__warehouse")
        .order_by("recheck_due_at")
    )
    alerts = [
        {
            "kind": "return_recheck_overdue",
            "key": f"return_recheck:{line.pk}",
            "role": Role.WAREHOUSE,
            "message": _(
                "%(q)s × %(sku)s of return %(rma)s wait in QC hold at %(warehouse)s since %(due)s: "
                "re-check them."
            )
            % {
                "q": line.intact_quantity,
                "sku": line.sku.code,
                "rma": line.rma.number,
                "warehouse": line.rma.warehouse.code if line.rma.warehouse_id else "?",
                "due": timezone.localtime(line.recheck_due_at).strftime("%Y-%m-%d %H:%M"),
            },
            "payload": {"rma": line.rma.number, "line": line.pk},
        }
        for line in overdue
    ]
    alerts_raise_many(alerts)
    return len(alerts)
