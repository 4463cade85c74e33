"""Real parallel connections on PostgreSQL: two buyers clicking "Create purchase orders" on the
same suggestions at once, and warehouse workers posting receipts for the same order line at once."""

from decimal import Decimal

import pytest
from django.test import override_settings

from core.errors import DomainError
from core.roles import Role
from inventory.models import MovementKind, StockMovement
from inventory.reconciliation import find_drift
from inventory.tests.test_concurrency import run_parallel
from orders.tests.factories import WarehouseFactory
from purchasing import receiving, services
from purchasing.models import PurchaseOrder, PurchaseOrderLine, PurchaseOrderState
from purchasing.services import LineInput
from purchasing.tests.factories import ledger_sum, make_item, make_supplier, on_hand, suggestions_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_buyers_clicking_at_once_create_one_set_of_purchase_orders(make_user):
    suggestions = suggestions_for("BOLT", "NUT", "GEAR")
    make_item(make_supplier("acme"), "BOLT")
    make_item(make_supplier("acme"), "NUT")
    make_item(make_supplier("bestco"), "GEAR")
    buyers = [make_user(Role.BUYER), make_user(Role.BUYER), make_user(Role.BUYER)]
    warehouse = WarehouseFactory()
    results = []

    def click(index):
        results.append(
            services.purchase_orders_from_suggestions(
                suggestion_ids=[s.pk for s in suggestions], warehouse=warehouse, actor=buyers[index]
            )
        )

    assert run_parallel(3, click) == []

    assert PurchaseOrder.objects.count() == 2  # acme and bestco, once
    assert PurchaseOrderLine.objects.count() == 3
    assert sorted(PurchaseOrderLine.objects.values_list("suggestion_id", flat=True)) == sorted(
        s.pk for s in suggestions
    )
    created = [result for result in results if result.created]
    assert len(created) == 1 and len(created[0].created) == 2
    assert all(set(r.already_ordered) == {"BOLT", "NUT", "GEAR"} for r in results if not r.created)


@override_settings(PURCHASE_OVER_RECEIPT_TOLERANCE_PERCENT=Decimal("0"))
def test_workers_posting_receipts_for_the_same_line_at_once_keep_quantities_and_ledger_exact(make_user):
    buyer = make_user(Role.BUYER)
    make_item(make_supplier("acme"), "NUT", "1.00")
    po = services.purchase_order_create(
        supplier=make_supplier("acme"),
        warehouse=WarehouseFactory(),
        lines=[LineInput("NUT", 30)],
        actor=buyer,
    )
    po = services.purchase_order_submit(po=po, actor=buyer)
    workers = [make_user(Role.WAREHOUSE) for _ in range(4)]
    receipts = []
    for worker in workers:  # four workers each counted 10 at the dock: 40 for an order of 30
        receipt = receiving.receipt_start(po=po, actor=worker)
        receiving.receipt_set_counts(
            receipt=receipt,
            counts=[receiving.CountInput(line_id=receipt.lines.get().pk, quantity=10)],
            actor=worker,
        )
        receipts.append(receipt)

    # when they all post at the same instant, each twice (a double click)
    errors = run_parallel(8, lambda i: receiving.receipt_post(receipt=receipts[i % 4], actor=workers[i % 4]))

    # then exactly three receipts went in (no tolerance: the last one is refused), each once
    assert len(errors) == 2 and all(isinstance(e, DomainError) for e in errors)  # both of its clicks
    line = po.lines.get()
    assert line.received_quantity == 30
    assert on_hand("NUT") == ledger_sum("NUT") == 30
    assert StockMovement.objects.filter(kind=MovementKind.RECEIPT, sku__code="NUT").count() == 3
    assert find_drift() == []
    po.refresh_from_db()
    assert po.state == PurchaseOrderState.RECEIVED
