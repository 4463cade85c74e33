"""The purchase order's history: each event is stored as a kind (PurchaseEventKind) with
parameters and rendered in the reader's language when shown — never stored as text.

`record_event(po, kind, params, actor)` writes one; `render_event(event)` turns it into a title
and detail lines for the current language. Parameters by kind (every key optional; unknown keys
are ignored, so an old row never breaks the page):

    created            {"source": "hand" | "suggestions", "lines": n, "total": "123.00", "currency": "CNY"}
    edited             {"lines": [{"sku": "CODE", "quantity": [old, new]}], "total": "…", "currency": "…"}
    submitted          {"total": "…", "currency": "…", "needs_second_approver": bool}
    approved           {"self_approved": bool}
    rejected           {"reason": "what the approver typed"}
    confirmed          {"lines": n}
    proposed           {"lines": [{"sku": "CODE", "quantity": [old, new],
                                   "date": ["YYYY-MM-DD", "YYYY-MM-DD"]}]}
    proposal_accepted  same "lines" as proposed
    proposal_rejected  same "lines" as proposed, {"reason": "…"}
    announced          {"notice": "ASN…", "expected_on": "YYYY-MM-DD", "units": n}
    received           {"receipt": "GR…", "notice": "ASN…", "units": n,
                        "lines": [{"sku": "CODE", "quantity": n}], "over": [{"sku": "CODE", "quantity": n}]}
    over_received      {"receipt": "GR…", "lines": [{"sku": "CODE", "quantity": n, "open": n}],
                        "accepted_by_manager": bool}
    closed             {"short": [{"sku": "CODE", "quantity": n}], "reason": "…"}
    cancelled          {"reason": "…"}
    wms_accepted       {"warehouse": "WH", "reference": "the warehouse's own number"}
    wms_short          {"warehouse": "WH", "short": [{"sku": "CODE", "quantity": n}]}

`received` and `over_received` posted from a cloud warehouse's confirmation also carry
{"warehouse": "WH"}; `over_received` then {"beyond_tolerance": bool} (booked as counted there).

`reason` is the only free text: what a person typed, shown as they typed it.
"""

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.utils import formats
from django.utils.translation import gettext as _

from core.transitions import Actor
from purchasing.models import PurchaseEvent, PurchaseEventKind, PurchaseOrder


def record_event(
    po: PurchaseOrder, kind: str, params: dict[str, Any] | None = None, actor: Actor = None
) -> PurchaseEvent:
    """Append one event to the purchase order's history (inside the caller's transaction)."""
    if kind not in PurchaseEventKind.values:
        raise ValueError(f"unknown purchase event kind {kind!r}")
    return PurchaseEvent.objects.create(purchase_order=po, kind=kind, params=params or {}, actor=actor)


@dataclass(frozen=True)
class RenderedEvent:
    event: PurchaseEvent
    title: str
    details: list[str] = field(default_factory=list)
    # Over-delivery and rejections are worth a second look on the page.
    is_warning: bool = False

    @property
    def actor_label(self) -> str:
        return self.event.actor.get_username() if self.event.actor_id else _("system")


def render_event(event: PurchaseEvent) -> RenderedEvent:
    """The event as the reader should see it, in the active language."""
    params = event.params if isinstance(event.params, dict) else {}
    title = str(PurchaseEventKind(event.kind).label) if event.kind in PurchaseEventKind.values else event.kind
    render = _RENDERERS.get(event.kind, _no_details)
    details = [line for line in render(params) if line]
    if params.get("reason"):
        details.append(_("Reason: %(reason)s") % {"reason": params["reason"]})
    warning = event.kind in (
        PurchaseEventKind.OVER_RECEIVED,
        PurchaseEventKind.REJECTED,
        PurchaseEventKind.WMS_SHORT,
    ) or bool(params.get("over"))
    return RenderedEvent(event=event, title=title, details=details, is_warning=warning)


def render_events(events) -> list[RenderedEvent]:
    return [render_event(event) for event in events]


# --- one renderer per kind ---------------------------------------------------------------------


def _no_details(params: dict) -> list[str]:
    return []


def _date(value: Any) -> str:
    if not value:
        return "—"
    try:
        return formats.date_format(date.fromisoformat(str(value)), "SHORT_DATE_FORMAT")
    except ValueError:
        return str(value)


def _sku_lines(items: Any) -> list[str]:
    if not isinstance(items, list):
        return []
    return [
        _("%(sku)s × %(quantity)s") % {"sku": item.get("sku", "?"), "quantity": item.get("quantity", "?")}
        for item in items
        if isinstance(item, dict)
    ]


def _created(params: dict) -> list[str]:
    lines = []
    if params.get("source") == "suggestions":
        lines.append(_("From replenishment suggestions"))
    elif params.get("source") == "hand":
        lines.append(_("Entered by hand"))
    if params.get("lines") is not None:
        lines.append(_("%(n)s lines") % {"n": params["lines"]})
    lines.append(_total(params))
    return lines


def _total(params: dict) -> str:
    if params.get("total") is None:
        return ""
    return _("Total: %(total)s %(currency)s") % {
        "total": params["total"],
        "currency": params.get("currency", ""),
    }


def _edited(params: dict) -> list[str]:
    return [*_proposal_lines(params), _total(params)]


def _submitted(params: dict) -> list[str]:
    lines = [_total(params)]
    if params.get("needs_second_approver"):
        lines.append(_("At or above the approval threshold: another person must approve."))
    return lines


def _approved(params: dict) -> list[str]:
    return [_("Below the approval threshold: approved on submission.")] if params.get("self_approved") else []


def _confirmed(params: dict) -> list[str]:
    return [_("%(n)s lines confirmed") % {"n": params["lines"]}] if params.get("lines") is not None else []


def _proposal_lines(params: dict) -> list[str]:
    out = []
    for line in params.get("lines") or []:
        if not isinstance(line, dict):
            continue
        changes = []
        quantity = line.get("quantity")
        if isinstance(quantity, list) and len(quantity) == 2:
            changes.append(_("quantity %(old)s → %(new)s") % {"old": quantity[0], "new": quantity[1]})
        day = line.get("date")
        if isinstance(day, list) and len(day) == 2:
            changes.append(_("date %(old)s → %(new)s") % {"old": _date(day[0]), "new": _date(day[1])})
        out.append(f"{line.get('sku', '?')}: {', '.join(changes) or '—'}")
    return out


def _announced(params: dict) -> list[str]:
    lines = []
    if params.get("notice"):
        lines.append(_("Notice %(number)s") % {"number": params["notice"]})
    if params.get("expected_on"):
        lines.append(_("Expected on %(date)s") % {"date": _date(params["expected_on"])})
    if params.get("units") is not None:
        lines.append(_("%(n)s units announced") % {"n": params["units"]})
    return lines


def _notice_cancelled(params: dict) -> list[str]:
    return [_("Notice %(number)s") % {"number": params["notice"]}] if params.get("notice") else []


def _received(params: dict) -> list[str]:
    lines = []
    if params.get("receipt"):
        lines.append(_("Receipt %(number)s") % {"number": params["receipt"]})
    if params.get("notice"):
        lines.append(_("Against notice %(number)s") % {"number": params["notice"]})
    if params.get("units") is not None:
        lines.append(_("%(n)s units received") % {"n": params["units"]})
    lines.extend(_sku_lines(params.get("lines")))
    if params.get("warehouse"):
        lines.append(_("Confirmed by cloud warehouse %(warehouse)s") % {"warehouse": params["warehouse"]})
    for item in params.get("over") or []:
        if isinstance(item, dict):
            lines.append(
                _("%(sku)s: %(quantity)s more than ordered")
                % {"sku": item.get("sku", "?"), "quantity": item.get("quantity", "?")}
            )
    return lines


def _over_received(params: dict) -> list[str]:
    lines = []
    if params.get("receipt"):
        lines.append(_("Receipt %(number)s") % {"number": params["receipt"]})
    for item in params.get("lines") or []:
        if isinstance(item, dict):
            lines.append(
                _("%(sku)s: %(quantity)s beyond the %(open)s still open")
                % {
                    "sku": item.get("sku", "?"),
                    "quantity": item.get("quantity", "?"),
                    "open": item.get("open", "?"),
                }
            )
    if params.get("accepted_by_manager"):
        lines.append(_("Accepted by a manager beyond the tolerance."))
    if params.get("beyond_tolerance"):
        lines.append(
            _("Beyond the tolerance: booked as cloud warehouse %(warehouse)s counted it; managers alerted.")
            % {"warehouse": params.get("warehouse", "?")}
        )
    return lines


def _wms_accepted(params: dict) -> list[str]:
    return [
        _("Cloud warehouse %(warehouse)s: %(reference)s")
        % {"warehouse": params.get("warehouse", "?"), "reference": params.get("reference") or "—"}
    ]


def _wms_short(params: dict) -> list[str]:
    return [
        _("Cloud warehouse %(warehouse)s finished receiving; still open:")
        % {"warehouse": params.get("warehouse", "?")},
        *_sku_lines(params.get("short")),
    ]


def _closed(params: dict) -> list[str]:
    short = params.get("short")
    if not short:
        return []
    return [_("Not delivered:")] + _sku_lines(short)


_RENDERERS = {
    PurchaseEventKind.CREATED: _created,
    PurchaseEventKind.EDITED: _edited,
    PurchaseEventKind.SUBMITTED: _submitted,
    PurchaseEventKind.APPROVED: _approved,
    PurchaseEventKind.CONFIRMED: _confirmed,
    PurchaseEventKind.PROPOSED: _proposal_lines,
    PurchaseEventKind.PROPOSAL_ACCEPTED: _proposal_lines,
    PurchaseEventKind.PROPOSAL_REJECTED: _proposal_lines,
    PurchaseEventKind.ANNOUNCED: _announced,
    PurchaseEventKind.NOTICE_CANCELLED: _notice_cancelled,
    PurchaseEventKind.RECEIVED: _received,
    PurchaseEventKind.OVER_RECEIVED: _over_received,
    PurchaseEventKind.CLOSED: _closed,
    PurchaseEventKind.WMS_ACCEPTED: _wms_accepted,
    PurchaseEventKind.WMS_SHORT: _wms_short,
}
