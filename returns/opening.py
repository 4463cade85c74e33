"""Opening an RMA from the desk or the customer's self-service link (R-R1, R-R2): the request is
cleaned, judged against the return policy with the order row locked (so two requests cannot
claim the same units), stored with its lines and attachments, and approved at once when the
policy allows."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError
from core.sequences import next_values
from core.timezones import business_date
from core.transitions import Actor, require_perm
from inventory.models import SKU
from orders.models import Order
from returns import policy as policies
from returns.attachments import attach_files, check_attachments
from returns.decisions import approve_locked_rma
from returns.models import ReturnKind, ReturnLine, ReturnReason, ReturnRequest, ReturnSource
from returns.transitions import lock_order, record_rma_event

MAX_LINES = 200  # one request names at most this many order lines


class PolicyRefused(DomainError):
    """The request breaks the return policy and the policy does not route it to an agent."""


def allocate_rma_number(moment: datetime | None = None) -> str:
    """RMA + the business day + a per-day sequence: RMA20260314000042."""
    day = business_date(moment)
    return f"RMA{day:%Y%m%d}{next_values(name='rma_number', day=day)[0]:06d}"


def rma_event_lines(rma: ReturnRequest) -> list[dict]:
    """The RMA's lines in the shape the order timeline renders ("#1 SKU ×2")."""
    return [
        {"line": line.order_line.line_no, "sku": line.sku.code, "quantity": line.quantity}
        for line in rma.lines.select_related("order_line", "sku").order_by("order_line__line_no")
    ]


@dataclass
class RequestedLine:
    """One order line the customer wants to send back, cleaned."""

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
    actor: Actor = None,
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
        require_perm(actor, "returns.add_returnrequest")
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
        attach_files(rma=rma, files=files, actor=actor)
        text = _("Return %(rma)s requested (%(kind)s, %(reason)s) by %(source)s.") % {
            "rma": rma.number,
            "kind": rma.get_kind_display(),
            "reason": rma.get_reason_display(),
            "source": rma.get_source_display(),
        }
        if verdict.exceptions:
            text += " " + _("Needs approval: %(why)s") % {"why": " ".join(rma.policy_notes)}
        record_rma_event(rma, actor, text, lines=rma_event_lines(rma), rma_to=rma.status)
        if verdict.passes and policy.auto_approve:
            # The policy approves, not the requester: an agent without the approval permission
            # does not block it, the system approves in their place.
            approver = (
                actor if actor is not None and actor.has_perm("returns.approve_returnrequest") else None
            )
            approve_locked_rma(rma, approver, _("Within the return policy."))
    return rma
