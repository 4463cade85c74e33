"""RMA writes (R-R1–R-R4). Each service: one transaction → lock the order row, then the RMA row
(the global lock order: order rows → RMA rows → shipment → reservation → balance rows) → check
permission and state → run the transition (which only assigns fields) → save → write the event on
the order timeline → stock, refund and exchange work in the same transaction; outbound calls go
through the outbox.

`actor=None` is the system or the customer on a self-service link; a user is checked for
permission."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django_fsm import can_proceed, has_transition_perm

from core.alerts import alert_raise, alert_resolve, alerts_raise_many
from core.errors import DomainError, NotPermitted, TransitionRefused
from core.roles import Role
from core.sequences import next_values
from core.timezones import business_date
from inventory import ledger
from inventory.models import SKU, MovementKind, Reservation, StockMovement, Warehouse
from inventory.services import post_one, stock_change, stock_qc_release
from fulfilment.models import Carrier
from orders.models import Order, OrderStatus
from returns import policy as policies
from returns.attachments import check_attachments
from returns.models import (
    RECEIVABLE,
    R,
    ReturnAttachment,
    ReturnKind,
    ReturnLine,
    ReturnReason,
    ReturnRefund,
    ReturnRequest,
    ReturnSource,
)
from returns.refunds import event, refund_create

MAX_LINES = 200


class PolicyRefused(DomainError):
    """The request breaks the return policy and the policy does not route it to an agent."""


# --- shared steps -----------------------------------------------------------------------------


def _require_perm(actor, perm: str) -> None:
    if actor is not None and not actor.has_perm(perm):
        raise NotPermitted(_("You are not allowed to do this."))


def lock_order(order_id: int) -> Order:
    return Order.objects.select_for_update(of=("self",)).select_related("channel").get(pk=order_id)


def lock_rma(rma: ReturnRequest | int, *, with_exchange: bool = False) -> ReturnRequest:
    """Lock the RMA's order (and its exchange order: order rows in ascending id), then the RMA,
    fresh from the database."""
    rma_id = rma.pk if isinstance(rma, ReturnRequest) else rma
    ids = ReturnRequest.objects.filter(pk=rma_id).values_list("order_id", "exchange_order_id").first()
    if ids is None:
        raise DomainError(_("No such return request."), field="rma")
    order_id, exchange_id = ids
    wanted = [order_id, exchange_id] if with_exchange and exchange_id else [order_id]
    orders = {
        order.pk: order
        for order in Order.objects.select_for_update(of=("self",))
        .select_related("channel")
        .filter(pk__in=wanted)
        .order_by("pk")
    }
    locked = ReturnRequest.objects.select_for_update(of=("self",)).get(pk=rma_id)
    locked.order = orders[order_id]
    if with_exchange and locked.exchange_order_id in orders:
        locked.exchange_order = orders[locked.exchange_order_id]
    return locked


def _require_state(rma: ReturnRequest, expected_status: str | None) -> None:
    if expected_status and rma.status != expected_status:
        raise TransitionRefused(
            _("%(rma)s changed meanwhile: it is now %(status)s.")
            % {"rma": rma.number, "status": rma.get_status_display()}
        )


def run_rma_transition(
    rma: ReturnRequest, name: str, actor, *, reason: str = "", args: dict | None = None, payload=None
) -> None:
    """Run one transition on a locked RMA and write it on the order timeline."""
    method = getattr(rma, name)
    allowed = has_transition_perm(method, actor) if actor is not None else can_proceed(method)
    if not allowed:
        if actor is not None and can_proceed(method):
            raise NotPermitted(_("You are not allowed to do this."))
        raise TransitionRefused(
            _("%(rma)s cannot “%(action)s” while %(status)s.")
            % {"rma": rma.number, "action": name, "status": rma.get_status_display()}
        )
    from_status = rma.status
    method(**(args or {}))
    rma.save()
    text = _("Return %(rma)s: %(from)s → %(to)s.") % {
        "rma": rma.number,
        "from": R(from_status).label,
        "to": rma.get_status_display(),
    }
    event(
        rma,
        actor,
        f"{text} {reason}".strip(),
        transition=name,
        rma_from=from_status,
        rma_to=rma.status,
        **(payload or {}),
    )


def allocate_rma_number(moment=None) -> str:
    day = business_date(moment)
    return f"RMA{day:%Y%m%d}{next_values(name='rma_number', day=day)[0]:06d}"


def _event_lines(rma: ReturnRequest) -> list[dict]:
    """The RMA's lines in the shape the order timeline renders ("#1 SKU ×2")."""
    return [
        {"line": line.order_line.line_no, "sku": line.sku.code, "quantity": line.quantity}
        for line in rma.lines.select_related("order_line", "sku").order_by("order_line__line_no")
    ]


# --- creation (desk, self-service link) ---------------------------------------------------------


@dataclass
class RequestedLine:
    order_line_id: int
    quantity: int
    replacement_sku: SKU | None = None


def _clean_lines(kind: str, lines: list[dict[str, Any]]) -> list[RequestedLine]:
    if not lines:
        raise DomainError(_("Name at least one line and quantity to return."), field="lines")
    if len(lines) > MAX_LINES:
        raise DomainError(_("Too many lines."), field="lines")
    cleaned: dict[int, RequestedLine] = {}
    for given in lines:
        try:
            line_id, quantity = int(given["order_line"]), int(given["quantity"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DomainError(
                _("Each line needs an order line and a whole quantity."), field="lines"
            ) from exc
        if quantity < 1:
            raise DomainError(_("Quantities must be at least 1."), field="lines")
        if line_id in cleaned:
            raise DomainError(_("A line is named twice."), field="lines")
        replacement = given.get("replacement_sku") or None
        if replacement is not None and kind != ReturnKind.EXCHANGE:
            raise DomainError(_("Only an exchange names a replacement SKU."), field="replacement_sku")
        if isinstance(replacement, str):
            code = replacement.strip()
            replacement = SKU.objects.filter(code=code, is_active=True).first()
            if replacement is None:
                raise DomainError(
                    _("Unknown or inactive SKU “%(code)s”.") % {"code": code[:64]}, field="replacement_sku"
                )
        cleaned[line_id] = RequestedLine(line_id, quantity, replacement)
    return list(cleaned.values())


def _clean_contact(order: Order, contact: dict[str, str] | None) -> dict[str, str]:
    contact = contact or {}
    values = {
        "contact_name": (contact.get("name") or order.customer_name or "").strip(),
        "contact_phone": (contact.get("phone") or order.customer_phone or "").strip(),
        "contact_email": (contact.get("email") or order.customer_email or "").strip().lower(),
    }
    for field, limit in (("contact_name", 120), ("contact_phone", 32), ("contact_email", 254)):
        if len(values[field]) > limit:
            raise DomainError(_("At most %(n)s characters.") % {"n": limit}, field=field)
    if values["contact_email"]:
        try:
            validate_email(values["contact_email"])
        except ValidationError as exc:
            raise DomainError(_("Enter a valid e-mail address."), field="contact_email") from exc
    if not (values["contact_phone"] or values["contact_email"]):
        raise DomainError(_("Give a phone number or an e-mail address to reach you."), field="contact_phone")
    return values


def rma_create(
    *,
    order: Order | int,
    kind: str,
    reason: str,
    lines: list[dict[str, Any]],
    description: str = "",
    contact: dict[str, str] | None = None,
    attachments=(),
    source: str = ReturnSource.DESK,
    actor=None,
    now: datetime | None = None,
) -> ReturnRequest:
    """Open an RMA after the policy checks. Units beyond what was delivered and not yet claimed
    are always refused; a request outside the window or for an excluded item is refused with the
    reason, or waits for an agent when the channel's policy says so. Within the policy it is
    approved at once (auto_approve), and an approved exchange gets its new order."""
    if kind not in (ReturnKind.RETURN, ReturnKind.EXCHANGE):
        raise DomainError(_("Choose a return or an exchange."), field="kind")
    if reason not in ReturnReason.values:
        raise DomainError(_("Choose a reason."), field="reason")
    if source not in ReturnSource.values or source == ReturnSource.PLATFORM:
        raise DomainError(_("Unknown source."), field="source")
    if len(description) > 2000:
        raise DomainError(_("At most 2000 characters."), field="description")
    wanted = _clean_lines(kind, lines)
    files = check_attachments(attachments)
    now = now or timezone.now()
    order_id = order.pk if isinstance(order, Order) else order
    with transaction.atomic():
        order = lock_order(order_id)
        _require_perm(actor, "returns.add_returnrequest")
        contact_values = _clean_contact(order, contact)
        policy = policies.policy_for(order.channel_id)
        allowances = policies.line_allowances(order)
        verdict = policies.judge(
            order, policy, allowances, {w.order_line_id: w.quantity for w in wanted}, now=now
        )
        if verdict.refusals:
            raise DomainError(" ".join(text for _f, text in verdict.refusals), field=verdict.refusals[0][0])
        if verdict.exceptions and not policy.manual_approval:
            raise PolicyRefused(
                " ".join(text for _f, text in verdict.exceptions), field=verdict.exceptions[0][0]
            )
        rma = ReturnRequest.objects.create(
            number=allocate_rma_number(),
            order=order,
            kind=kind,
            reason=reason,
            source=source,
            description=description.strip(),
            policy_notes=[text for _f, text in verdict.exceptions],
            requested_by=actor,
            **contact_values,
        )
        ReturnLine.objects.bulk_create(
            ReturnLine(
                rma=rma,
                order_line=allowances[w.order_line_id].line,
                sku=allowances[w.order_line_id].line.sku,
                quantity=w.quantity,
                replacement_sku=w.replacement_sku,
            )
            for w in wanted
        )
        for checked in files:
            ReturnAttachment.objects.create(
                rma=rma,
                file=checked.upload,
                original_name=checked.name,
                content_type=checked.content_type,
                size=checked.size,
                uploaded_by=actor,
            )
        text = _("Return %(rma)s requested (%(kind)s, %(reason)s) by %(source)s.") % {
            "rma": rma.number,
            "kind": rma.get_kind_display(),
            "reason": rma.get_reason_display(),
            "source": rma.get_source_display(),
        }
        if verdict.exceptions:
            text += " " + _("Needs approval: %(why)s") % {"why": " ".join(rma.policy_notes)}
        event(rma, actor, text, lines=_event_lines(rma), rma_to=rma.status)
        if verdict.passes and policy.auto_approve:
            approver = (
                actor if actor is not None and actor.has_perm("returns.approve_returnrequest") else None
            )
            _approve(rma, approver, _("Within the return policy."))
    return rma


# --- approval ---------------------------------------------------------------------------------


def _approve(rma: ReturnRequest, actor, reason: str) -> None:
    run_rma_transition(rma, "approve", actor, reason=reason, args={"by": actor})
    if rma.kind == ReturnKind.EXCHANGE:
        _create_exchange_order(rma)


def rma_approve(
    *, rma: ReturnRequest | int, actor=None, reason: str = "", expected_status=None
) -> ReturnRequest:
    """An agent approves a request waiting for approval (outside the policy, or a channel that
    does not auto-approve). Its units were claimed when it was requested, so no other request can
    have taken them meanwhile."""
    with transaction.atomic():
        rma = lock_rma(rma)
        _require_state(rma, expected_status)
        _approve(rma, actor, reason.strip())
    return rma


def rma_reject(*, rma: ReturnRequest | int, actor=None, reason: str, expected_status=None) -> ReturnRequest:
    if not reason.strip():
        raise DomainError(_("Say why the request is rejected."), field="reason")
    with transaction.atomic():
        rma = lock_rma(rma)
        _require_state(rma, expected_status)
        run_rma_transition(rma, "reject", actor, reason=reason.strip(), args={"reason": reason.strip()[:255]})
    return rma


def rma_cancel(*, rma: ReturnRequest | int, actor=None, reason: str, expected_status=None) -> ReturnRequest:
    """The customer withdrew before the goods arrived: the units are free again, and the exchange
    order is cancelled with its stock released (refused once the replacement has shipped)."""
    if not reason.strip():
        raise DomainError(_("Say why the request is cancelled."), field="reason")
    with transaction.atomic():
        rma = lock_rma(rma, with_exchange=True)
        exchange = rma.exchange_order if rma.exchange_order_id else None
        _require_state(rma, expected_status)
        if exchange is not None and not can_proceed(exchange.cancel):
            raise TransitionRefused(
                _("The replacement order %(order)s is already %(status)s: it can no longer be cancelled.")
                % {"order": exchange.number, "status": exchange.get_status_display()}
            )
        run_rma_transition(rma, "cancel", actor, reason=reason.strip(), args={"reason": reason.strip()[:255]})
        if exchange is not None:
            from orders.services import order_transition

            order_transition(
                order=exchange.pk, name="cancel", reason=_("Return %(rma)s cancelled") % {"rma": rma.number}
            )
    return rma


# --- exchange -----------------------------------------------------------------------------------


def _create_exchange_order(rma: ReturnRequest) -> Order:
    """The replacement order, created through order ingestion so that it is reserved, reviewed
    and routed like any other: same channel, customer and address, the original priority (VIP is
    kept), zero-priced and paid. A different replacement SKU is noted for the agent."""
    from orders.canonical import CanonicalOrderInput
    from orders.models import OrderEventKind
    from orders.services import order_ingest, record_order_event

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
    event(
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


# --- return logistics ----------------------------------------------------------------------------


def rma_set_tracking(
    *, rma: ReturnRequest | int, tracking_number: str, carrier: Carrier | None = None, actor=None
) -> ReturnRequest:
    """The customer (or an agent for them) says how the goods come back."""
    tracking_number = (tracking_number or "").strip()
    if not tracking_number or len(tracking_number) > 64:
        raise DomainError(
            _("Enter the return tracking number (at most 64 characters)."), field="tracking_number"
        )
    with transaction.atomic():
        rma = lock_rma(rma)
        run_rma_transition(
            rma,
            "await_return",
            actor,
            args={"carrier": carrier, "tracking_number": tracking_number},
            payload={"tracking_number": tracking_number, "carrier": carrier.code if carrier else ""},
        )
    return rma


def rma_for_scan(code: str) -> ReturnRequest:
    """What a scanned code names: an RMA number, a return tracking number, or an order number
    with exactly one RMA whose goods are expected."""
    code = (code or "").strip()
    if not code:
        raise DomainError(_("Scan an RMA or order number."), field="code")
    found = ReturnRequest.objects.filter(number__iexact=code).first()
    if found is not None:
        return found
    expected = list(
        ReturnRequest.objects.filter(status__in=RECEIVABLE)
        .filter(Q(order__number__iexact=code) | Q(return_tracking_number=code) | Q(order__external_id=code))
        .order_by("pk")[:3]
    )
    if not expected:
        raise DomainError(_("No return is expected for “%(code)s”.") % {"code": code[:64]}, field="code")
    if len(expected) > 1:
        raise DomainError(
            _("Several returns are expected for “%(code)s” (%(numbers)s): scan the RMA number.")
            % {"code": code[:64], "numbers": ", ".join(r.number for r in expected)},
            field="code",
        )
    return expected[0]


def rma_receive(
    *, rma: ReturnRequest | int, warehouse: Warehouse, actor=None, expected_status=None
) -> ReturnRequest:
    """The parcel arrived at a warehouse; what is in it is graded by inspection."""
    if warehouse is None or not warehouse.is_active:
        raise DomainError(_("Choose the receiving warehouse."), field="warehouse")
    with transaction.atomic():
        rma = lock_rma(rma)
        _require_state(rma, expected_status)
        run_rma_transition(
            rma,
            "receive",
            actor,
            args={"warehouse": warehouse, "by": actor},
            payload={"warehouse": warehouse.code},
        )
    return rma


# --- inspection and disposition -----------------------------------------------------------------


@dataclass
class Grade:
    intact: int = 0
    damaged: int = 0
    wrong_item: int = 0
    note: str = ""


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
        if grade.intact + grade.damaged + grade.wrong_item > line.quantity:
            raise DomainError(
                _("#%(no)s %(sku)s: %(n)s units graded, but only %(q)s were to come back.")
                % {
                    "no": line.order_line.line_no,
                    "sku": line.sku.code,
                    "n": grade.intact + grade.damaged + grade.wrong_item,
                    "q": line.quantity,
                },
                field="lines",
            )
        if len(grade.note) > 255:
            raise DomainError(_("Notes: at most 255 characters."), field="note")
        cleaned[line_id] = grade
    if not any(g.intact + g.damaged + g.wrong_item for g in cleaned.values()):
        raise DomainError(_("Grade at least one unit."), field="lines")
    return cleaned


def _movement_key(rma: ReturnRequest, line: ReturnLine, step: str) -> str:
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


def _dispose(rma: ReturnRequest, line: ReturnLine, actor, now: datetime) -> None:
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


def rma_inspect(
    *, rma: ReturnRequest | int, grades: dict[int, dict], actor=None, expected_status=None
) -> ReturnRequest:
    """Grade each line (intact / damaged / wrong item, with notes), move the stock accordingly
    and settle the RMA: a return gets its refund (created once), an exchange is marked done.
    Submitted twice, even at the same moment, the second finds the RMA inspected and changes
    nothing."""
    now = timezone.now()
    with transaction.atomic():
        rma = lock_rma(rma)
        _require_state(rma, expected_status)
        cleaned = _clean_grades(rma, grades)
        run_rma_transition(rma, "inspect", actor, args={"by": actor})
        graded, wrong = [], []
        for line in rma.lines.select_related("sku", "order_line").order_by("order_line__line_no"):
            grade = cleaned[line.pk]
            line.intact_quantity, line.damaged_quantity = grade.intact, grade.damaged
            line.wrong_item_quantity, line.inspection_note = grade.wrong_item, grade.note
            _dispose(rma, line, actor, now)
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
        event(
            rma,
            actor,
            _("Inspected %(rma)s: %(summary)s")
            % {
                "rma": rma.number,
                "summary": "; ".join(
                    f"#{g['line']} {g['sku']} "
                    + _("intact %(i)s, damaged %(d)s, wrong item %(w)s")
                    % {"i": g["intact"], "d": g["damaged"], "w": g["wrong_item"]}
                    + (f" ({g['note']})" if g["note"] else "")
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
    if rma.kind == ReturnKind.EXCHANGE:
        run_rma_transition(rma, "mark_exchanged", None)
        return
    refund = refund_create(rma=rma, policy=policies.policy_for(rma.order.channel_id))
    if refund is not None:
        run_rma_transition(rma, "mark_refunded", None)
    else:
        event(rma, None, _("Nothing to refund for %(rma)s.") % {"rma": rma.number})


def rma_recheck(*, line: ReturnLine | int, passed: bool, actor=None, note: str = "") -> ReturnLine:
    """The fast re-check of intact returned units: passed → available again (QC release);
    failed → written off. Once per line (the line row and an idempotency key say so)."""
    line_id = line.pk if isinstance(line, ReturnLine) else line
    rma_id = ReturnLine.objects.filter(pk=line_id).values_list("rma_id", flat=True).first()
    if rma_id is None:
        raise DomainError(_("No such return line."), field="line")
    with transaction.atomic():
        rma = lock_rma(rma_id)
        _require_perm(actor, "returns.receive_returnrequest")
        line = (
            ReturnLine.objects.select_for_update(of=("self",))
            .select_related("sku", "order_line")
            .get(pk=line_id)
        )
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
        event(
            rma,
            actor,
            text % {"rma": rma.number, "no": line.order_line.line_no, "sku": line.sku.code, "q": quantity}
            + (f" {note.strip()}" if note.strip() else ""),
            recheck="passed" if passed else "failed",
        )
        alert_resolve(key=f"return_recheck:{line.pk}", actor=actor)
    return line


# --- closing and the scheduled jobs -------------------------------------------------------------


def rma_close(
    *, rma: ReturnRequest | int, actor=None, reason: str = "", expected_status=None
) -> ReturnRequest:
    with transaction.atomic():
        rma = lock_rma(rma)
        _require_state(rma, expected_status)
        run_rma_transition(rma, "close", actor, reason=reason.strip())
    return rma


def rmas_close_settled(*, limit: int = 500) -> int:
    """Close what is settled: refunds that went through, exchanges whose new order was delivered.
    Each RMA is re-read under its lock, so two runs at once close it once."""
    from returns.models import RefundState

    candidates = list(
        ReturnRequest.objects.filter(
            Q(status=R.REFUNDED, refund__state=RefundState.SUCCEEDED)
            | Q(status=R.EXCHANGED, exchange_order__status__in=[OrderStatus.DELIVERED, OrderStatus.COMPLETED])
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    closed = 0
    for rma_id in candidates:
        with transaction.atomic():
            rma = lock_rma(rma_id)
            if rma.status not in (R.REFUNDED, R.EXCHANGED):
                continue
            run_rma_transition(rma, "close", None, reason=_("Settled"))
            closed += 1
    return closed


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


# --- platform after-sales (Shopify refunds) -------------------------------------------------------


def rma_record_platform_refund(
    *,
    order: Order,
    external_ref: str,
    lines: list[dict[str, Any]],
    amount,
    goods_back: bool,
    note: str = "",
) -> tuple[ReturnRequest, bool]:
    """A refund the platform already made becomes an RMA (once per platform reference): goods that
    come back are received and inspected here as usual (the refund exists, so none is made again);
    a refund without goods is settled at once. The money is booked in finance once."""
    from finance.revenue import revenue_record_refund
    from returns.models import RefundProvider, RefundState

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
        event(
            rma,
            None,
            _("Return %(rma)s opened from the platform's refund %(ref)s.")
            % {"rma": rma.number, "ref": external_ref},
            lines=_event_lines(rma),
            rma_to=rma.status,
        )
        run_rma_transition(rma, "approve", None, reason=_("Approved on the platform."))
        if amount and amount > 0:
            ReturnRefund.objects.create(
                rma=rma,
                order=order,
                amount=amount,
                goods_amount=amount,
                currency=order.currency,
                provider=RefundProvider.SHOPIFY,
                state=RefundState.SUCCEEDED,
                provider_reference=external_ref.split(":", 1)[-1][:128],
                completed_at=timezone.now(),
                detail={"platform": True},
            )
            revenue_record_refund(
                order=order, amount=amount, reference=external_ref, currency=order.currency, note=rma.number
            )
            event(
                rma,
                None,
                _("Refund of %(amount)s %(currency)s made on the platform (%(ref)s).")
                % {"amount": amount, "currency": order.currency, "ref": external_ref},
                refund=str(amount),
                refund_state=RefundState.SUCCEEDED,
            )
        if kind == ReturnKind.REFUND_ONLY:
            run_rma_transition(rma, "mark_refunded", None)
            run_rma_transition(rma, "close", None, reason=_("Refunded on the platform; no goods come back."))
    return rma, True
