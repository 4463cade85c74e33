"""Refunds triggered by inspection (R-R4): how much, booked once in finance, sent once to whoever
holds the customer's money.

Amount rules (returns.models.ReturnPolicy holds the percentages):
- goods: each unit at the price actually paid for it — unit price less its share of the line
  discount and of the order discount (spread over the lines by their net amount);
- intact units in full; damaged units in full when the seller was at fault (the customer's
  reason was damaged / wrong item / not as described), otherwise `damaged_refund_percent`;
  units that turned out to be a wrong item get nothing (they are investigated);
- no-reason returns keep `restocking_fee_percent` of the goods;
- shipping is refunded once per order when the seller was at fault;
- never more than the order total less what was already refunded.

A refund is one ReturnRefund row per RMA (unique: created exactly once, even when inspection is
submitted twice at once), one `refund` revenue line (finance.revenue, idempotent per RMA number)
and one outbox message `finance.refund.<provider>` whose handler calls Stripe's refunds API,
Alipay's alipay.trade.refund or Shopify's refunds endpoint with an idempotency key.
"""

import base64
import binascii
import json
import logging
from dataclasses import dataclass, field
from decimal import Decimal

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import load_der_private_key, load_pem_private_key
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from core.alerts import alert_raise
from core.money import ZERO, quantize
from core.http import TIMEOUT, send_for_outbox
from core.outbox import PermanentFailure, outbox_enqueue, outbox_failure, register_handler
from core.roles import Role
from core.timezones import format_beijing_time
from finance.models import Payment, PaymentProvider, PaymentStatus, RevenueKind, RevenueLine
from finance.providers.alipay import load_public_key
from finance.providers.stripe import currency_exponent
from finance.revenue import revenue_record_refund
from orders.models import Order, OrderEventKind
from orders.services import record_order_event
from returns.models import (
    R,
    RefundProvider,
    RefundState,
    ReturnReason,
    ReturnRefund,
    ReturnRequest,
)

logger = logging.getLogger(__name__)

OUTBOX_KIND = "finance.refund.{provider}"
SHOPIFY_API_VERSION = "2024-10"


# --- how much ---------------------------------------------------------------------------------


@dataclass
class Quote:
    goods: Decimal = ZERO
    shipping: Decimal = ZERO
    restocking_fee: Decimal = ZERO
    total: Decimal = ZERO
    lines: list[dict] = field(default_factory=list)
    capped: bool = False


def unit_paid(line, order: Order, net_goods: Decimal) -> Decimal:
    """What the customer paid for one unit of the line (unrounded)."""
    line_net = line.unit_price * line.quantity - line.discount
    order_share = order.discount * line_net / net_goods if net_goods else ZERO
    return (line_net - order_share) / line.quantity


def already_refunded(order: Order) -> Decimal:
    booked = RevenueLine.objects.filter(
        order=order, kind=RevenueKind.REFUND, currency=order.currency
    ).aggregate(total=Sum("amount"))["total"]
    return -(booked or ZERO)


def quote(rma: ReturnRequest, policy) -> Quote:
    """The refund the inspected RMA gives (see the module docstring for the rules)."""
    order = rma.order
    net_goods = sum((ol.unit_price * ol.quantity - ol.discount for ol in order.lines.all()), ZERO)
    fault = rma.is_seller_at_fault
    result = Quote()
    goods, refunded_units = ZERO, 0
    for line in rma.lines.select_related("order_line", "sku").order_by("order_line__line_no"):
        unit = unit_paid(line.order_line, order, net_goods)
        full = line.intact_quantity + (line.damaged_quantity if fault else 0)
        partial = 0 if fault else line.damaged_quantity
        amount = unit * full + unit * partial * Decimal(policy.damaged_refund_percent) / 100
        refunded_units += full + partial
        goods += amount
        result.lines.append(
            {
                "line": line.order_line.line_no,
                "sku": line.sku.code,
                "unit_paid": str(quantize(unit)),
                "full": full,
                "partial": partial,
                "wrong_item": line.wrong_item_quantity,
                "amount": str(quantize(amount)),
            }
        )
    result.goods = quantize(goods)
    if rma.reason == ReturnReason.NO_REASON and policy.restocking_fee_percent:
        result.restocking_fee = quantize(result.goods * Decimal(policy.restocking_fee_percent) / 100)
    shipping_refunded = (
        ReturnRefund.objects.filter(order=order, shipping_amount__gt=0).exclude(rma=rma).exists()
    )
    if fault and policy.refund_shipping_on_seller_fault and refunded_units and not shipping_refunded:
        result.shipping = order.shipping_fee
    total = result.goods - result.restocking_fee + result.shipping
    room = order.total - already_refunded(order)
    if total > room:
        total, result.capped = room, True
    result.total = max(quantize(total), ZERO)
    return result


def choose_provider(order: Order, amount: Decimal) -> tuple[str, Payment | None]:
    """Back the way the money came: the latest Stripe or Alipay payment with room for it; the
    platform when the order was paid there (Shopify); otherwise finance pays out by hand."""
    payments = (
        Payment.objects.filter(
            order=order,
            currency=order.currency,
            provider__in=[PaymentProvider.STRIPE, PaymentProvider.ALIPAY],
        )
        .exclude(status=PaymentStatus.REFUNDED)
        .order_by("-paid_at", "-pk")
    )
    for payment in payments:
        if payment.amount - payment.refunded_amount >= amount:
            return payment.provider, payment
    if order.channel.platform == "shopify":
        return RefundProvider.SHOPIFY, None
    return RefundProvider.MANUAL, None


def event(rma: ReturnRequest, actor, text: str, **payload) -> None:
    """An RMA event, written on its order's timeline (the RMA shows the ones that name it)."""
    record_order_event(
        rma.order, OrderEventKind.NOTE, actor, reason=text, payload={"rma": rma.number, **payload}
    )


def refund_create(*, rma: ReturnRequest, policy) -> ReturnRefund | None:
    """Inside the inspection's transaction (order and RMA rows locked): the RMA's refund, created
    once. None when there is nothing to refund."""
    existing = ReturnRefund.objects.filter(rma=rma).first()
    if existing is not None:
        return existing
    order = rma.order
    amounts = quote(rma, policy)
    if amounts.total <= 0:
        return None
    provider, payment = choose_provider(order, amounts.total)
    try:
        with transaction.atomic():
            refund = ReturnRefund.objects.create(
                rma=rma,
                order=order,
                amount=amounts.total,
                goods_amount=amounts.goods,
                shipping_amount=amounts.shipping,
                restocking_fee=amounts.restocking_fee,
                currency=order.currency,
                provider=provider,
                payment=payment,
                state=RefundState.MANUAL if provider == RefundProvider.MANUAL else RefundState.PENDING,
                detail={"lines": amounts.lines, "capped": amounts.capped},
            )
    except IntegrityError:  # the unique RMA: someone else created it first
        return ReturnRefund.objects.get(rma=rma)
    revenue_record_refund(
        order=order,
        amount=amounts.total,
        reference=rma.number,
        currency=order.currency,
        payment=payment,
        note=_("Return %(rma)s") % {"rma": rma.number},
    )
    event(
        rma,
        None,
        _(
            "Refund of %(amount)s %(currency)s created for %(rma)s (goods %(goods)s, shipping %(shipping)s, "
            "restocking fee %(fee)s): %(provider)s."
        )
        % {
            "amount": amounts.total,
            "currency": order.currency,
            "rma": rma.number,
            "goods": amounts.goods,
            "shipping": amounts.shipping,
            "fee": amounts.restocking_fee,
            "provider": refund.get_provider_display(),
        },
        refund=str(amounts.total),
        refund_state=refund.state,
    )
    if provider == RefundProvider.MANUAL:
        alert_raise(
            kind="return_refund_manual",
            key=f"return_refund_manual:{rma.number}",
            role=Role.FINANCE,
            message=_("Pay out the refund of %(amount)s %(currency)s for %(rma)s (order %(order)s) by hand.")
            % {"amount": amounts.total, "currency": order.currency, "rma": rma.number, "order": order.number},
            payload={"rma": rma.number, "refund": refund.pk},
        )
    else:
        outbox_enqueue(
            kind=OUTBOX_KIND.format(provider=provider),
            payload={"refund": refund.pk, "rma": rma.number},
            idempotency_key=f"refund:{rma.number}",
            channel_id=order.channel_id if provider == RefundProvider.SHOPIFY else None,
        )
    return refund


def refund_record_outcome(
    *, refund_id: int, state: str, reference: str = "", error: str = "", actor=None
) -> None:
    """What the provider (or finance, for a manual payout) said, on the refund and the order
    timeline; a refund that went through closes its RMA."""
    with transaction.atomic():
        # The global lock order: the order row, the RMA row, then the refund row.
        order_id, rma_id = ReturnRefund.objects.filter(pk=refund_id).values_list("order_id", "rma_id").get()
        order = Order.objects.select_for_update(of=("self",)).get(pk=order_id)
        rma = ReturnRequest.objects.select_for_update(of=("self",)).get(pk=rma_id)
        rma.order = order
        refund = ReturnRefund.objects.select_for_update(of=("self",)).get(pk=refund_id)
        if refund.state == RefundState.SUCCEEDED:
            return
        refund.state = state
        refund.provider_reference = (reference or refund.provider_reference)[:128]
        refund.error = error[:2000]
        if state == RefundState.SUCCEEDED:
            refund.completed_at = timezone.now()
        refund.save(update_fields=["state", "provider_reference", "error", "completed_at"])
        text = {
            RefundState.SUCCEEDED: _("Refund for %(rma)s completed by %(provider)s (%(ref)s)."),
            RefundState.SENT: _("Refund for %(rma)s accepted by %(provider)s (%(ref)s), not settled yet."),
            RefundState.FAILED: _("Refund for %(rma)s failed at %(provider)s: %(error)s"),
        }.get(state, _("Refund for %(rma)s: %(provider)s."))
        event(
            rma,
            actor,
            text
            % {
                "rma": rma.number,
                "provider": refund.get_provider_display(),
                "ref": reference,
                "error": error,
            },
            refund_state=state,
        )
        if state == RefundState.FAILED:
            alert_raise(
                kind="return_refund_failed",
                key=f"return_refund_failed:{rma.number}",
                role=Role.FINANCE,
                message=_("The refund for %(rma)s failed: %(error)s")
                % {"rma": rma.number, "error": error[:300]},
                payload={"rma": rma.number, "refund": refund.pk},
            )
        if state == RefundState.SUCCEEDED and rma.status == R.REFUNDED:
            from returns.services import run_rma_transition

            run_rma_transition(rma, "close", None, reason=_("Refund completed"))


# --- the providers (outbox handlers) -----------------------------------------------------------


def _load(message) -> ReturnRefund | None:
    refund = (
        ReturnRefund.objects.select_related("rma", "order", "order__channel", "payment")
        .filter(pk=message.payload.get("refund"))
        .first()
    )
    if refund is None:
        raise PermanentFailure(f"refund #{message.payload.get('refund')} does not exist")
    if refund.state == RefundState.SUCCEEDED:
        return None  # delivered before (at-least-once delivery)
    return refund


def _fail(refund: ReturnRefund, error: str) -> Exception:
    """A final refusal: the refund fails and the message dead-letters (an operator can replay it)."""
    refund_record_outcome(refund_id=refund.pk, state=RefundState.FAILED, error=error)
    return outbox_failure(error, temporary=False)


def _http_call(refund: ReturnRefund, platform: str, request) -> httpx.Response:
    """One request: temporary failures (network, 408, 425, 429, 5xx) are retried later, other
    refusals fail the refund (and dead-letter the message, which an operator can replay)."""
    with httpx.Client(timeout=TIMEOUT) as http:
        try:
            return send_for_outbox(platform, lambda: request(http), 5.0)
        except PermanentFailure as exc:
            raise _fail(refund, str(exc)) from exc


def _json(refund: ReturnRefund, response: httpx.Response, platform: str) -> dict:
    try:
        body = response.json()
    except ValueError as exc:
        detail = f"{platform}: answer is not JSON: {response.text[:200]}"
        raise outbox_failure(detail, temporary=True) from exc
    if not isinstance(body, dict):
        raise outbox_failure(f"{platform}: answer is not a JSON object", temporary=True)
    return body


def to_minor_units(amount: Decimal, currency: str) -> int:
    return int((amount * (Decimal(10) ** currency_exponent(currency))).to_integral_value())


@register_handler(OUTBOX_KIND.format(provider=RefundProvider.STRIPE))
def refund_via_stripe(message) -> None:
    """POST /v1/refunds (https://docs.stripe.com/api/refunds/create). The outbox idempotency key
    is Stripe's Idempotency-Key, so a retried delivery never refunds twice."""
    refund = _load(message)
    if refund is None:
        return
    if not settings.STRIPE_SECRET_KEY:
        raise PermanentFailure("STRIPE_SECRET_KEY is not configured")
    if refund.payment is None:
        raise _fail(refund, "no Stripe payment to refund")
    target = "charge" if refund.payment.transaction_id.startswith(("ch_", "py_")) else "payment_intent"
    data = {
        target: refund.payment.transaction_id,
        "amount": str(to_minor_units(refund.amount, refund.currency)),
        "reason": "requested_by_customer",
        "metadata[rma]": refund.rma.number,
        "metadata[order_number]": refund.order.number,
    }
    headers = {
        "Authorization": f"Bearer {settings.STRIPE_SECRET_KEY}",
        "Idempotency-Key": message.idempotency_key,
    }
    url = f"{settings.STRIPE_API_URL.rstrip('/')}/v1/refunds"
    body = _json(
        refund,
        _http_call(refund, "Stripe", lambda http: http.post(url, data=data, headers=headers)),
        "Stripe",
    )
    status, reference = body.get("status"), str(body.get("id") or "")
    if status == "succeeded":
        refund_record_outcome(refund_id=refund.pk, state=RefundState.SUCCEEDED, reference=reference)
    elif status in ("pending", "requires_action"):
        refund_record_outcome(refund_id=refund.pk, state=RefundState.SENT, reference=reference)
    else:
        reason = body.get("failure_reason") or status or "unknown status"
        refund_record_outcome(
            refund_id=refund.pk, state=RefundState.FAILED, reference=reference, error=f"Stripe: {reason}"
        )


def load_private_key(value: str) -> rsa.RSAPrivateKey:
    value = value.strip()
    if value.startswith("-----BEGIN"):
        key = load_pem_private_key(value.encode(), password=None)
    else:
        key = load_der_private_key(base64.b64decode("".join(value.split())), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA private key")
    return key


def alipay_request_content(params: dict[str, str]) -> str:
    """What a request's RSA2 signature covers: every non-empty parameter but `sign`, sorted by
    name, as k=v&k=v (unlike notifications, a request's sign_type is signed too)."""
    return "&".join(f"{key}={params[key]}" for key in sorted(params) if key != "sign" and params[key] != "")


def alipay_sign(params: dict[str, str], private_key: rsa.RSAPrivateKey) -> str:
    """RSA2: SHA256withRSA, base64."""
    content = alipay_request_content(params).encode("utf-8")
    return base64.b64encode(private_key.sign(content, padding.PKCS1v15(), hashes.SHA256())).decode()


def _alipay_response_node(raw: str, name: str) -> tuple[dict, str]:
    """The response node and its exact text: Alipay signs the node's JSON as sent."""
    marker = f'"{name}"'
    start = raw.find(marker)
    if start < 0:
        raise ValueError(f"{name} missing")
    start = raw.index(":", start + len(marker)) + 1
    while raw[start].isspace():
        start += 1
    node, end = json.JSONDecoder().raw_decode(raw, start)
    return node, raw[start:end]


# Alipay answers that are worth retrying (busy or a system error on its side).
ALIPAY_RETRY_SUB_CODES = {"ACQ.SYSTEM_ERROR", "ACQ.TRADE_HAS_FINISHED_RETRY", "aop.ACQ.SYSTEM_ERROR"}


@register_handler(OUTBOX_KIND.format(provider=RefundProvider.ALIPAY))
def refund_via_alipay(message) -> None:
    """alipay.trade.refund (https://opendocs.alipay.com/open/02e7go): an RSA2-signed form POST to
    the gateway; out_request_no (the RMA number) makes a repeated request refund once."""
    refund = _load(message)
    if refund is None:
        return
    if not (settings.ALIPAY_APP_ID and settings.ALIPAY_APP_PRIVATE_KEY):
        raise PermanentFailure("ALIPAY_APP_ID / ALIPAY_APP_PRIVATE_KEY are not configured")
    if refund.payment is None:
        raise _fail(refund, "no Alipay payment to refund")
    try:
        private_key = load_private_key(settings.ALIPAY_APP_PRIVATE_KEY)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise PermanentFailure(f"ALIPAY_APP_PRIVATE_KEY is not an RSA private key: {exc}") from exc
    biz = {
        "trade_no": refund.payment.transaction_id,
        "out_trade_no": refund.order.number,
        "refund_amount": f"{refund.amount:.2f}",
        "out_request_no": refund.rma.number,
        "refund_reason": refund.rma.get_reason_display()[:256],
    }
    params = {
        "app_id": settings.ALIPAY_APP_ID,
        "method": "alipay.trade.refund",
        "format": "JSON",
        "charset": "utf-8",
        "sign_type": "RSA2",
        "timestamp": format_beijing_time(timezone.now()),
        "version": "1.0",
        "biz_content": json.dumps(biz, ensure_ascii=False, separators=(",", ":")),
    }
    params["sign"] = alipay_sign(params, private_key)
    response = _http_call(refund, "Alipay", lambda http: http.post(settings.ALIPAY_GATEWAY_URL, data=params))
    try:
        node, node_text = _alipay_response_node(response.text, "alipay_trade_refund_response")
        signature = json.loads(response.text).get("sign", "")
    except (ValueError, IndexError) as exc:
        raise outbox_failure(f"Alipay: unreadable answer: {exc}", temporary=True) from exc
    if settings.ALIPAY_PUBLIC_KEY and not _alipay_verifies(node_text, signature):
        raise outbox_failure("Alipay: the answer's signature does not verify", temporary=False)
    code, sub_code = str(node.get("code", "")), str(node.get("sub_code", ""))
    if code == "10000":
        reference = str(node.get("trade_no") or refund.payment.transaction_id)
        refund_record_outcome(refund_id=refund.pk, state=RefundState.SUCCEEDED, reference=reference)
        return
    detail = f"Alipay {code} {sub_code}: {node.get('sub_msg') or node.get('msg') or ''}".strip()
    if code == "20000" or sub_code in ALIPAY_RETRY_SUB_CODES:  # a refusal in a 200 body, Alipay's codes
        raise outbox_failure(detail, temporary=True)
    raise _fail(refund, detail)


def _alipay_verifies(content: str, signature: str) -> bool:
    try:
        key = load_public_key(settings.ALIPAY_PUBLIC_KEY)
        key.verify(base64.b64decode(signature), content.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError, TypeError, binascii.Error):
        return False
    return True


@register_handler(OUTBOX_KIND.format(provider=RefundProvider.SHOPIFY))
def refund_via_shopify(message) -> None:
    """Orders paid on Shopify are refunded there, which also tells the platform about the return
    (https://shopify.dev/docs/api/admin-rest/2024-10/resources/refund): look for a refund that
    names this RMA first (a retried delivery), map our SKUs to Shopify line items, let Shopify
    calculate the transactions, then create the refund with our amount."""
    refund = _load(message)
    if refund is None:
        return
    channel = refund.order.channel
    credentials = channel.api_credentials or {}
    base = credentials.get("base_url") or f"https://{credentials.get('shop', '')}"
    if not credentials.get("access_token") or base == "https://":
        raise PermanentFailure(f"channel {channel.code} has no Shopify API credentials")
    api = f"{base.rstrip('/')}/admin/api/{SHOPIFY_API_VERSION}/orders/{refund.order.external_id}"
    headers = {"X-Shopify-Access-Token": credentials["access_token"], "Accept": "application/json"}
    number = refund.rma.number

    existing = _json(
        refund,
        _http_call(refund, "Shopify", lambda h: h.get(f"{api}/refunds.json", headers=headers)),
        "Shopify",
    )
    for found in existing.get("refunds") or []:
        if number in (found.get("note") or ""):
            refund_record_outcome(
                refund_id=refund.pk, state=RefundState.SUCCEEDED, reference=str(found.get("id"))
            )
            return
    order = (
        _json(
            refund,
            _http_call(
                refund,
                "Shopify",
                lambda h: h.get(f"{api}.json", params={"fields": "id,line_items"}, headers=headers),
            ),
            "Shopify",
        ).get("order")
        or {}
    )
    refund_lines = _shopify_refund_lines(refund, order.get("line_items") or [])
    shipping = {"amount": f"{refund.shipping_amount:.2f}"} if refund.shipping_amount else {"amount": "0.00"}
    calculated = (
        _json(
            refund,
            _http_call(
                refund,
                "Shopify",
                lambda h: h.post(
                    f"{api}/refunds/calculate.json",
                    json={"refund": {"shipping": shipping, "refund_line_items": refund_lines}},
                    headers=headers,
                ),
            ),
            "Shopify",
        ).get("refund")
        or {}
    )
    parents = [t for t in calculated.get("transactions") or [] if t.get("parent_id")]
    if not parents:
        raise _fail(refund, "Shopify: no transaction of the order can be refunded")
    transactions, left = [], refund.amount
    for parent in parents:  # our amount (partial and restocking rules) over the refundable transactions
        room = Decimal(str(parent.get("maximum_refundable") or parent.get("amount") or "0"))
        take = min(left, room)
        if take > 0:
            transactions.append(
                {
                    "parent_id": parent["parent_id"],
                    "amount": f"{take:.2f}",
                    "kind": "refund",
                    "gateway": parent.get("gateway", ""),
                }
            )
            left -= take
    if left > 0:
        raise _fail(refund, f"Shopify: only {refund.amount - left} of {refund.amount} can be refunded")
    body = {
        "refund": {
            "note": f"{number}: {refund.rma.get_reason_display()}",
            "notify": True,
            "shipping": shipping,
            "refund_line_items": refund_lines,
            "transactions": transactions,
        }
    }
    created = (
        _json(
            refund,
            _http_call(
                refund, "Shopify", lambda h: h.post(f"{api}/refunds.json", json=body, headers=headers)
            ),
            "Shopify",
        ).get("refund")
        or {}
    )
    refund_record_outcome(
        refund_id=refund.pk, state=RefundState.SUCCEEDED, reference=str(created.get("id", ""))
    )


def _shopify_refund_lines(refund: ReturnRefund, line_items: list[dict]) -> list[dict]:
    """Our returned SKUs as Shopify line items (the stock was already put back here)."""
    remaining = {item["id"]: int(item.get("quantity") or 0) for item in line_items if item.get("id")}
    result = []
    for line in refund.rma.lines.select_related("sku"):
        units = line.intact_quantity + line.damaged_quantity
        for item in line_items:
            if units and item.get("sku") == line.sku.code and remaining.get(item.get("id"), 0) > 0:
                take = min(units, remaining[item["id"]])
                result.append({"line_item_id": item["id"], "quantity": take, "restock_type": "no_restock"})
                remaining[item["id"]] -= take
                units -= take
    return result


def refund_confirm_manual(*, refund: ReturnRefund, reference: str, actor) -> None:
    """Finance paid a manual refund out (bank transfer, cash…) and says so."""
    from core.errors import DomainError, NotPermitted

    if actor is not None and not actor.has_perm("returns.change_returnrefund"):
        raise NotPermitted(_("You are not allowed to confirm refunds."))
    if not reference.strip():
        raise DomainError(_("Give the payout reference (bank transfer number…)."), field="reference")
    if refund.state not in (RefundState.MANUAL, RefundState.FAILED):
        raise DomainError(_("This refund is not waiting for a manual payout."), field="state")
    refund_record_outcome(
        refund_id=refund.pk, state=RefundState.SUCCEEDED, reference=reference.strip(), actor=actor
    )
    from core.alerts import alert_resolve

    alert_resolve(key=f"return_refund_manual:{refund.rma.number}", actor=actor)
    alert_resolve(key=f"return_refund_failed:{refund.rma.number}", actor=actor)
