"""Shared set-up for the returns tests: delivered orders built through the real services."""

from datetime import datetime

import pytest
from django.db import transaction
from django.db.models import Sum

from fulfilment.models import Shipment, ShipmentLine
from inventory.models import StockBalance, StockMovement
from orders.models import Order
from orders.tests.factories import WarehouseFactory, order_in_state
from returns import inspection, logistics, opening
from returns.models import ReturnLine


def delivered_order(**overrides) -> Order:
    """An order delivered through routing and its shipments. Default lines: #1 SKU-1 ×2 at 59.90
    less 5.00; #2 SKU-2 ×1 at 100.00; shipping 8.00, order discount 10.00, total 212.80 CNY.
    Built in one transaction, so that in transactional tests the on-commit routing runs after
    the factory routed it (and finds nothing left to do)."""
    with transaction.atomic():
        return order_in_state("delivered", **overrides)


def set_delivered_at(order: Order, moment: datetime) -> None:
    """Move the delivery back in time (the clock, not the state: shipments stay delivered)."""
    shipment_ids = ShipmentLine.objects.filter(order_line__order=order).values("shipment_id")
    Shipment.objects.filter(pk__in=shipment_ids).update(delivered_at=moment)
    Order.objects.filter(pk=order.pk).update(delivered_at=moment)


def line(order: Order, line_no: int):
    return order.lines.get(line_no=line_no)


def request_return(order: Order, *quantities: tuple[int, int], actor=None, **fields):
    """rma_create for (line_no, quantity) pairs; a return for no reason unless told otherwise."""
    fields.setdefault("kind", "return")
    fields.setdefault("reason", "no_reason")
    return opening.rma_create(
        order=order,
        lines=[{"order_line": line(order, no).pk, "quantity": qty} for no, qty in quantities],
        actor=actor,
        **fields,
    )


def receive_and_inspect(rma, grades_by_line_no: dict[int, dict], *, warehouse=None, actor=None):
    rma = logistics.rma_receive(rma=rma, warehouse=warehouse or WarehouseFactory(), actor=actor)
    grades = {
        rl.pk: grades_by_line_no.get(rl.order_line.line_no, {})
        for rl in ReturnLine.objects.filter(rma=rma).select_related("order_line")
    }
    return inspection.rma_inspect(rma=rma, grades=grades, actor=actor)


def balance(sku_code: str, warehouse=None) -> tuple[int, int, int, int]:
    """(on_hand, reserved, qc_hold, available) of a SKU at the warehouse (default WH-HZ)."""
    warehouse = warehouse or WarehouseFactory()
    sums = StockBalance.objects.filter(sku__code=sku_code, warehouse=warehouse).aggregate(
        on_hand=Sum("on_hand"), reserved=Sum("reserved"), qc_hold=Sum("qc_hold")
    )
    on_hand, reserved, qc_hold = (sums[k] or 0 for k in ("on_hand", "reserved", "qc_hold"))
    return on_hand, reserved, qc_hold, on_hand - reserved - qc_hold


def movements(reference: str) -> list[tuple[str, int, int]]:
    return list(
        StockMovement.objects.filter(reference=reference)
        .order_by("pk")
        .values_list("kind", "on_hand_delta", "qc_hold_delta")
    )


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


@pytest.fixture
def provider():
    from returns.tests import fake_providers

    stub, server, thread = fake_providers.start()
    yield stub
    server.shutdown()
    server.server_close()
    thread.join()
