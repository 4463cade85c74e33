"""Which order and payment a statement line names: its order reference (our order number, or a
platform order id naming exactly one order; Tmall orders appear in Alipay statements as
T200P<tid>) and its transaction id (naming exactly one payment; a bank line also by its entry id,
the bank's reference a transfer is recorded with). Used when an import inserts its lines and
when a reconciliation matches the lines still without an order."""

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from finance.imports.lookups import values_in
from finance.imports.models import StatementSource
from finance.models import Payment
from orders.models import Order

TMALL_MERCHANT_ORDER = re.compile(r"^T\d{3}P(\d{6,})$")  # Tmall orders in Alipay statements: T200P<tid>


class LineReferences(Protocol):
    """A staged import line, or a statement line read with values_list(..., named=True)."""

    @property
    def entry_id(self) -> str: ...

    @property
    def transaction_id(self) -> str: ...

    @property
    def order_ref(self) -> str: ...


class FoundPayment(NamedTuple):
    payment_id: int
    order_id: int


class ReferenceMatch(NamedTuple):
    order_id: int | None
    payment_id: int | None
    matched_by: str  # order_number / external_id / transaction_id, "" when nothing matched


@dataclass(frozen=True)
class References:
    """The orders and payments a set of lines names, looked up once for all of them."""

    source: str
    orders: dict[str, int]  # our order number, or "external:<platform order id>" → order id
    payments: dict[str, FoundPayment | None]  # transaction id → payment; None: it names several

    def match(self, line: LineReferences) -> ReferenceMatch:
        order_id = payment_id = None
        matched_by = ""
        ref = line.order_ref
        if ref:
            order_id = self.orders.get(ref)
            if order_id is not None:
                matched_by = "order_number"
            else:
                order_id = self.orders.get(f"external:{_external_ref(ref)}")
                matched_by = "external_id" if order_id is not None else ""
        payment = self.payments.get(line.transaction_id) if line.transaction_id else None
        if payment is None and self.source == StatementSource.BANK:
            payment = self.payments.get(line.entry_id)
        if payment is not None and (order_id is None or order_id == payment.order_id):
            payment_id = payment.payment_id
            if order_id is None:
                order_id, matched_by = payment.order_id, "transaction_id"
        return ReferenceMatch(order_id, payment_id, matched_by)


def references_resolve(lines: Iterable[LineReferences], source: str) -> References:
    """Look up the orders and payments the lines' references name (a few set queries)."""
    lines = list(lines)
    refs = sorted({line.order_ref for line in lines if line.order_ref})
    orders: dict[str, int] = dict(values_in(Order, "number", refs, ("number", "id")))
    found: dict[str, list[int]] = defaultdict(list)
    external = sorted({_external_ref(ref) for ref in refs if ref not in orders})
    for external_id, order_id in values_in(Order, "external_id", external, ("external_id", "id")):
        found[external_id].append(order_id)
    orders.update({f"external:{key}": ids[0] for key, ids in found.items() if len(ids) == 1})
    transaction_ids = {line.transaction_id for line in lines if line.transaction_id}
    if source == StatementSource.BANK:
        transaction_ids |= {line.entry_id for line in lines}
    payments: dict[str, FoundPayment | None] = {}
    rows = values_in(Payment, "transaction_id", sorted(transaction_ids), ("transaction_id", "id", "order_id"))
    for transaction_id, payment_id, order_id in rows:
        payments[transaction_id] = None if transaction_id in payments else FoundPayment(payment_id, order_id)
    return References(source, orders, payments)


def _external_ref(ref: str) -> str:
    tmall = TMALL_MERCHANT_ORDER.match(ref)
    return tmall.group(1) if tmall else ref
