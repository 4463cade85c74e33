"""A transfer's history: one function writes each kind of row (a code with parameters), and
`event_text` renders it in the reader's language — nothing stored is translated text."""

from django.utils.translation import gettext as _

from core.transitions import Moved
from inventory.models import ShortageReason, StockTransfer, StockTransferEvent, TransferEventKind

K = TransferEventKind


def transfer_event(
    transfer: StockTransfer, kind: str, actor, *, moved: Moved | None = None, **params
) -> StockTransferEvent:
    return StockTransferEvent.objects.create(
        transfer=transfer,
        kind=kind,
        actor=actor,
        from_status=moved.from_state if moved else "",
        to_status=moved.to_state if moved else "",
        params=params,
    )


def _lines(params: dict) -> str:
    return ", ".join(f"{row.get('sku')} ×{row.get('units')}" for row in params.get("lines") or [])


def event_text(event: StockTransferEvent) -> str:
    p = event.params or {}
    if event.kind == K.CREATED:
        return _("Created with %(units)s units on %(count)s lines.") % {
            "units": p.get("units", 0),
            "count": p.get("count", 0),
        }
    if event.kind == K.SENT:
        return _("Sent to the cloud warehouse to pick: %(lines)s.") % {"lines": _lines(p)}
    if event.kind == K.SHIPPED:
        if p.get("wms"):
            return _("The source warehouse shipped %(lines)s.") % {"lines": _lines(p)}
        return _("Shipped %(lines)s.") % {"lines": _lines(p)}
    if event.kind == K.RECEIVED:
        if p.get("wms"):
            return _("The destination warehouse received %(lines)s.") % {"lines": _lines(p)}
        return _("Received %(lines)s.") % {"lines": _lines(p)}
    if event.kind == K.OVERAGE:
        return _("Overage: more arrived than was shipped — %(lines)s (booked into stock, please check).") % {
            "lines": _lines(p)
        }
    if event.kind == K.CLOSED:
        reason = p.get("reason", "")
        label = ShortageReason(reason).label if reason in ShortageReason.values else reason
        text = _("Closed short, %(lines)s written off: %(reason)s.") % {"lines": _lines(p), "reason": label}
        return f"{text} {p['note']}" if p.get("note") else text
    if event.kind == K.CANCELLED:
        return _("Cancelled before it shipped.")
    if event.kind == K.WMS_FINISHED_SHORT:
        return _("The destination warehouse finished receiving with %(lines)s still missing.") % {
            "lines": _lines(p)
        }
    return event.get_kind_display()
