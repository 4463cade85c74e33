"""Protected receiver data (issue #16): JD, Pinduoduo, Douyin and Xiaohongshu send the receiver's
name, phone and address masked or encrypted. Conduit stores what they give (Order.ship_* hold the
masked text, Order.receiver_protected the ciphertext and index fields) and never uses masked data
as identity. Plain text comes only from the platform's decrypt API, at the moment it is needed
(printing a waybill, a warehouse push that requires it), is never stored, and every call is
audited (orders.ReceiverDecryption, written in the caller's transaction: callers decrypt in
their own short transaction before the call that needs the data), whether the platform answered
or not.

A platform client that can decrypt offers
    decrypt_receiver(order_external_id: str, protected: dict) -> dict[str, str]
returning {"name", "phone", "address"} in plain text, and raises core.http.PlatformError /
RateLimited when the platform refuses or asks to slow down."""

from django.utils.translation import gettext as _

from core.errors import DomainError, NotPermitted
from core.http import PlatformError, RateLimited
from integrations.adapters import get_adapter
from orders.models import Order, ReceiverDecryption

FIELDS = ("name", "phone", "address")


class DecryptionRefused(DomainError):
    status_code = 502


def receiver_plain(*, order: Order, purpose: str, actor=None) -> dict[str, str]:
    """The order's receiver in plain text for `purpose` ("waybill", "wms_push", "desk"…)."""
    if actor is not None and not actor.has_perm("orders.decrypt_receiver"):
        raise NotPermitted(_("You are not allowed to see protected receiver data."))
    shown = {
        "name": order.ship_name,
        "phone": order.ship_phone,
        "address": " ".join(filter(None, [order.ship_line1, order.ship_line2])),
    }
    protected = order.receiver_protected or {}
    if not any((protected.get(name) or {}).get("cipher") for name in FIELDS):
        return shown  # nothing protected: what is stored is the receiver
    client = get_adapter(order.channel.platform).client_class(order.channel)
    decrypt = getattr(client, "decrypt_receiver", None)
    if decrypt is None:
        raise DecryptionRefused(
            _("The %(platform)s adapter cannot decrypt receiver data.") % {"platform": order.channel.platform}
        )
    fields = [name for name in FIELDS if (protected.get(name) or {}).get("cipher")]
    try:
        plain = decrypt(order.external_id, protected)
    except (PlatformError, RateLimited) as exc:
        _audit(order, purpose, fields, actor, error=str(exc))
        raise DecryptionRefused(
            _("The platform did not decrypt the receiver of order %(order)s: %(error)s")
            % {"order": order.number, "error": exc}
        ) from exc
    _audit(order, purpose, fields, actor)
    return {name: plain.get(name) or shown[name] for name in FIELDS}


def _audit(order: Order, purpose: str, fields: list[str], actor, *, error: str = "") -> None:
    ReceiverDecryption.objects.create(
        order=order, purpose=purpose[:40], fields=fields, actor=actor, succeeded=not error, error=error[:255]
    )
