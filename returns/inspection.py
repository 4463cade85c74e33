"""Inspection (R-R3, R-R4): each received line is graded intact / damaged / wrong item, its stock
is moved (returns.disposition), and the RMA is settled — a return gets its refund, an exchange
is marked done."""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.alerts import alert_raise
from core.errors import DomainError
from core.roles import Role
from core.transitions import Actor, require_state
from returns import policy as policies
from returns.disposition import dispose_line
from returns.models import RefundState, ReturnKind, ReturnRequest
from returns.refunds.lifecycle import refund_create
from returns.transitions import lock_rma, record_rma_event, run_rma_transition


@dataclass
class Grade:
    """What inspection found among one line's units."""

    intact: int = 0
    damaged: int = 0
    wrong_item: int = 0
    note: str = ""

    @property
    def units(self) -> int:
        return self.intact + self.damaged + self.wrong_item


def _clean_grades(rma: ReturnRequest, grades: dict[int, dict]) -> dict[int, Grade]:
    lines = {line.pk: line for line in rma.lines.select_related("sku", "order_line")}
    unknown = set(grades) - set(lines)
    if unknown:
        raise DomainError(_("Grade only the lines of this return."), field="lines")
    cleaned = {}
    for line_id, line in lines.items():
        given = grades.get(line_id) or {}
        try:
            grade = Grade(
                intact=int(given.get("intact") or 0),
                damaged=int(given.get("damaged") or 0),
                wrong_item=int(given.get("wrong_item") or 0),
                note=str(given.get("note") or "").strip(),
            )
        except (TypeError, ValueError) as exc:
            raise DomainError(_("Quantities must be whole numbers."), field="lines") from exc
        if min(grade.intact, grade.damaged, grade.wrong_item) < 0:
            raise DomainError(_("Quantities cannot be negative."), field="lines")
        if grade.units > line.quantity:
            raise DomainError(
                _("#%(no)s %(sku)s: %(n)s units graded, but only %(q)s were to come back.")
                % {
                    "no": line.order_line.line_no,
                    "sku": line.sku.code,
                    "n": grade.units,
                    "q": line.quantity,
                },
                field="lines",
            )
        if len(grade.note) > 255:
            raise DomainError(_("Notes: at most 255 characters."), field="note")
        cleaned[line_id] = grade
    if not any(grade.units for grade in cleaned.values()):
        raise DomainError(_("Grade at least one unit."), field="lines")
    return cleaned


def rma_inspect(
    *,
    rma: ReturnRequest | int,
    grades: dict[int, dict],
    actor: Actor = None,
    expected_status: str | None = None,
) -> ReturnRequest:
    """Grade each line (intact / damaged / wrong item, with notes), move the stock accordingly
    and settle the RMA: a return gets its refund (created once), an exchange is marked done.
    Submitted twice, even at the same moment, the second finds the RMA inspected and changes
    nothing."""
    now = timezone.now()
    with transaction.atomic():
        rma = lock_rma(rma)
        require_state(rma, expected_status)
        cleaned = _clean_grades(rma, grades)
        run_rma_transition(rma, "inspect", actor, args={"by": actor})
        graded, wrong = [], []
        for line in rma.lines.select_related("sku", "order_line").order_by("order_line__line_no"):
            grade = cleaned[line.pk]
            line.intact_quantity, line.damaged_quantity = grade.intact, grade.damaged
            line.wrong_item_quantity, line.inspection_note = grade.wrong_item, grade.note
            dispose_line(rma, line, actor, now)
            line.save()
            graded.append(
                {
                    "line": line.order_line.line_no,
                    "sku": line.sku.code,
                    "intact": grade.intact,
                    "damaged": grade.damaged,
                    "wrong_item": grade.wrong_item,
                    "note": grade.note,
                }
            )
            if grade.wrong_item:
                wrong.append(f"#{line.order_line.line_no} {line.sku.code} ×{grade.wrong_item}")
        record_rma_event(
            rma,
            actor,
            _("Inspected %(rma)s: %(summary)s")
            % {
                "rma": rma.number,
                # One whole sentence per line, so the timeline can say each again in the
                # reader's language (core.stored_text).
                "summary": "; ".join(
                    (
                        _("#%(line)s %(sku)s: intact %(i)s, damaged %(d)s, wrong item %(w)s (%(note)s)")
                        if g["note"]
                        else _("#%(line)s %(sku)s: intact %(i)s, damaged %(d)s, wrong item %(w)s")
                    )
                    % {**g, "i": g["intact"], "d": g["damaged"], "w": g["wrong_item"]}
                    for g in graded
                ),
            },
            graded=graded,
        )
        if wrong:
            alert_raise(
                kind="return_wrong_item",
                key=f"return_wrong_item:{rma.number}",
                role=Role.MANAGER,
                message=_(
                    "Return %(rma)s (order %(order)s) came back with the wrong item: %(lines)s. Investigate."
                )
                % {"rma": rma.number, "order": rma.order.number, "lines": ", ".join(wrong)},
                payload={"rma": rma.number, "lines": wrong},
            )
        _settle(rma)
    return rma


def _settle(rma: ReturnRequest) -> None:
    """The system's step after inspection: an exchange is done (its replacement order exists
    since approval); a return is refunded, unless nothing is owed (e.g. only wrong items)."""
    if rma.kind == ReturnKind.EXCHANGE:
        run_rma_transition(rma, "mark_exchanged", None)
        return
    refund = refund_create(rma=rma, policy=policies.policy_for(rma.order.channel_id))
    if refund is not None:
        # The RMA follows the money: refunded only once paid out (the platform may have paid
        # before the goods came back); otherwise requested, and refunds.lifecycle finishes it.
        paid_out = refund.state == RefundState.SUCCEEDED
        run_rma_transition(rma, "mark_refunded" if paid_out else "start_refund", None)
    else:
        record_rma_event(rma, None, _("Nothing to refund for %(rma)s.") % {"rma": rma.number})
