"""Random sequences of receive / reserve / pay / cancel-part / expire / ship / return: after
every step the balances equal the ledger, reserved equals what reservations hold, and nothing
is negative or oversold."""

import contextlib
from datetime import timedelta

import pytest
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from core.errors import DomainError
from inventory import reservations
from inventory.models import MovementKind, Reservation, StockBalance
from inventory.reconciliation import find_drift
from inventory.services import stock_change, stock_qc_release
from orders import intake, services
from orders.models import Order, OrderStatus
from orders.tests.factories import (
    SKUFactory,
    WarehouseFactory,
    canonical_payload,
    drive_shipments,
    ensure_master_data,
    validated,
)

SKUS = ["SKU-1", "SKU-2"]


class InventoryMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.atomic = transaction.atomic()
        self.atomic.__enter__()  # every example runs in a savepoint rolled back at teardown
        self.counter = 0

    @initialize()
    def master_data(self):
        ensure_master_data(stock=0)

    def teardown(self):
        transaction.set_rollback(True)
        self.atomic.__exit__(None, None, None)

    def _orders(self, *statuses):
        return list(Order.objects.filter(status__in=statuses).order_by("pk").values_list("pk", flat=True))

    @rule(sku=st.sampled_from(SKUS), quantity=st.integers(1, 8))
    def receive(self, sku, quantity):
        stock_change(
            kind=MovementKind.RECEIPT,
            sku=SKUFactory(code=sku),
            warehouse=WarehouseFactory(),
            quantity=quantity,
            reference="PO",
        )

    @rule(
        lines=st.lists(st.tuples(st.sampled_from(SKUS), st.integers(1, 4)), min_size=1, max_size=2),
        paid=st.booleans(),
    )
    def place_order(self, lines, paid):
        self.counter += 1
        payload = canonical_payload(
            external_id=f"S-{self.counter}",
            paid=paid,
            lines=[{"sku": sku, "quantity": qty, "unit_price": "5.00"} for sku, qty in lines],
        )
        intake.order_ingest(data=validated(payload))

    @precondition(lambda self: Order.objects.filter(status=OrderStatus.PENDING_PAYMENT).exists())
    @rule(pick=st.integers(0, 50))
    def pay(self, pick):
        ids = self._orders(OrderStatus.PENDING_PAYMENT)
        services.order_transition(order=ids[pick % len(ids)], name="mark_paid")

    @precondition(
        lambda self: Order.objects.filter(status__in=[OrderStatus.PENDING_PAYMENT, OrderStatus.PAID]).exists()
    )
    @rule(pick=st.integers(0, 50), quantity=st.integers(1, 3))
    def cancel_part(self, pick, quantity):
        ids = self._orders(OrderStatus.PENDING_PAYMENT, OrderStatus.PAID)
        order = Order.objects.get(pk=ids[pick % len(ids)])
        line = order.lines.filter(quantity__gt=F("cancelled_quantity")).order_by("line_no").first()
        with contextlib.suppress(DomainError):  # more than the line still has: refused, nothing changed
            services.order_cancel_lines(order=order, quantities={line.pk: quantity}, reason="customer")

    @precondition(lambda self: Order.objects.filter(status=OrderStatus.ON_HOLD).exists())
    @rule(pick=st.integers(0, 50))
    def cancel_held(self, pick):
        ids = self._orders(OrderStatus.ON_HOLD)
        services.order_transition(order=ids[pick % len(ids)], name="cancel", reason="no stock")

    @rule()
    def expire(self):
        Reservation.objects.filter(state="active").update(expires_at=timezone.now() - timedelta(seconds=1))
        reservations.reservations_expire_sweep()

    @precondition(lambda self: Order.objects.filter(status=OrderStatus.PAID).exists())
    @rule(pick=st.integers(0, 50))
    def ship(self, pick):
        ids = self._orders(OrderStatus.PAID)
        order = ids[pick % len(ids)]
        services.order_transition(order=order, name="allocate")  # routed: one shipment from WH-HZ
        drive_shipments(Order.objects.get(pk=order))

    @rule(sku=st.sampled_from(SKUS), quantity=st.integers(1, 3), passes=st.booleans())
    def customer_return(self, sku, quantity, passes):
        stock_change(
            kind=MovementKind.RETURN,
            sku=SKUFactory(code=sku),
            warehouse=WarehouseFactory(),
            quantity=quantity,
            reference="RMA",
        )
        if passes:
            balance = StockBalance.objects.get(sku__code=sku, pool__is_default=True)
            stock_qc_release(balance=balance, quantity=quantity)

    @invariant()
    def balances_equal_the_ledger(self):
        assert find_drift() == []

    @invariant()
    def nothing_negative_nothing_oversold(self):
        assert not StockBalance.objects.filter(
            Q(on_hand__lt=0)
            | Q(reserved__lt=0)
            | Q(qc_hold__lt=0)
            | Q(on_hand__lt=F("reserved") + F("qc_hold"))
        ).exists()

    @invariant()
    def lines_hold_what_they_need_and_no_more(self):
        for order in Order.objects.exclude(status=OrderStatus.SHIPPED):
            held = reservations.held_quantities(order.pk)
            for line in order.lines.all():
                if order.status == OrderStatus.PAID:  # committed: exactly the live quantity
                    assert held.get(line.pk, 0) == line.live_quantity
                else:
                    assert held.get(line.pk, 0) <= line.live_quantity


@pytest.mark.django_db
def test_random_stock_histories_keep_the_books_straight():
    run_state_machine_as_test(
        InventoryMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
