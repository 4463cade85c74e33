"""Refunds of orders paid on Shopify, through its refunds endpoint, an outbox handler (which also
tells the platform about the return)."""

from collections.abc import Callable
from decimal import Decimal

import httpx

from core.models import OutboxMessage
from core.outbox import PermanentFailure
from returns.models import RefundState, ReturnRefund
from returns.refunds.delivery import call_provider, fail_refund, json_object, load_refund
from returns.refunds.lifecycle import refund_record_outcome

SHOPIFY_API_VERSION = "2024-10"


def refund_via_shopify(message: OutboxMessage) -> None:
    """Orders paid on Shopify are refunded there, which also tells the platform about the return
    (https://shopify.dev/docs/api/admin-rest/2024-10/resources/refund): look for a refund that
    names this RMA first (a retried delivery), map our SKUs to Shopify line items, let Shopify
    calculate the transactions, then create the refund with our amount."""
    refund = load_refund(message)
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

    def ask(request: Callable[[httpx.Client], httpx.Response]) -> dict:
        return json_object(call_provider(refund, "Shopify", request), "Shopify")

    existing = ask(lambda http: http.get(f"{api}/refunds.json", headers=headers))
    for found in existing.get("refunds") or []:
        if number in (found.get("note") or ""):
            refund_record_outcome(
                refund_id=refund.pk, state=RefundState.SUCCEEDED, reference=str(found.get("id"))
            )
            return
    order = (
        ask(lambda http: http.get(f"{api}.json", params={"fields": "id,line_items"}, headers=headers)).get(
            "order"
        )
        or {}
    )
    refund_lines = _refund_line_items(refund, order.get("line_items") or [])
    shipping = {"amount": f"{refund.shipping_amount:.2f}"} if refund.shipping_amount else {"amount": "0.00"}
    calculated = (
        ask(
            lambda http: http.post(
                f"{api}/refunds/calculate.json",
                json={"refund": {"shipping": shipping, "refund_line_items": refund_lines}},
                headers=headers,
            )
        ).get("refund")
        or {}
    )
    parents = [t for t in calculated.get("transactions") or [] if t.get("parent_id")]
    if not parents:
        raise fail_refund(refund, "Shopify: no transaction of the order can be refunded")
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
        raise fail_refund(refund, f"Shopify: only {refund.amount - left} of {refund.amount} can be refunded")
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
        ask(lambda http: http.post(f"{api}/refunds.json", json=body, headers=headers)).get("refund") or {}
    )
    refund_record_outcome(
        refund_id=refund.pk, state=RefundState.SUCCEEDED, reference=str(created.get("id", ""))
    )


def _refund_line_items(refund: ReturnRefund, line_items: list[dict]) -> list[dict]:
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
