"""Self-service return links: no login, a signed token that names the order and its purpose,
stamped with the time it was made and refused after RETURN_LINK_MAX_AGE_DAYS. The salt keeps
tokens signed for anything else in the project from being accepted here."""

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils.translation import gettext as _

from core.errors import DomainError
from orders.models import Order

SALT = "conduit.returns.self-service"
PURPOSE = "return"


class InvalidLink(DomainError):
    status_code = 403


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=SALT)


def make_token(order: Order) -> str:
    return _signer().sign_object({"order": order.number, "purpose": PURPOSE}, compress=True)


def self_service_url(order: Order, request=None) -> str:
    path = reverse("returns_self_service:start", args=[make_token(order)])
    return request.build_absolute_uri(path) if request is not None else path


def order_for_token(token: str) -> Order:
    """The order a valid, unexpired token names; InvalidLink for anything else."""
    max_age = timedelta(days=settings.RETURN_LINK_MAX_AGE_DAYS)
    try:
        data = _signer().unsign_object(token, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise InvalidLink(_("This return link has expired: ask customer service for a new one.")) from exc
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise InvalidLink(_("This return link is not valid.")) from exc
    if not isinstance(data, dict) or data.get("purpose") != PURPOSE or not isinstance(data.get("order"), str):
        raise InvalidLink(_("This return link is not valid."))
    order = Order.objects.select_related("channel").filter(number=data["order"]).first()
    if order is None:
        raise InvalidLink(_("This return link is not valid."))
    return order
