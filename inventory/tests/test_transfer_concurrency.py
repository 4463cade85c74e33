"""Real parallel connections on PostgreSQL: a transfer ships while orders reserve the same SKU at
the source; neither can take units the other holds, and the ledger proves every balance."""

import pytest
from django.db import transaction
from django.db.models import Sum

from inventory import reservations, transfers
from inventory.ledger import InsufficientStock
from inventory.models import HOLDING, Reservation, StockBalance, TransferStatus
from inventory.reconciliation import find_drift
from inventory.reservations import LineDemand, OrderDemand
from inventory.tests.test_concurrency import run_parallel
from orders.tests.factories import ChannelFactory, SKUFactory, WarehouseFactory, ensure_master_data, receive

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("transfer_units", [60, 95])
def test_shipping_a_transfer_while_orders_reserve_the_same_sku_never_oversells(transfer_units):
    # given 100 units at Hangzhou, a draft transfer of some of them to Shanghai, and 19 checkouts
    # of 5 units each racing the shipment (195 or 155 units wanted of 100)
    ensure_master_data(stock=0)
    shop = ChannelFactory()
    source = WarehouseFactory(code="WH-HZ")
    target = WarehouseFactory(code="WH-SH", name="Shanghai")
    sku = SKUFactory(code="HOT")
    receive(sku, 100, warehouse=source)
    draft = transfers.transfer_create(
        from_warehouse=source,
        to_warehouse=target,
        lines=[transfers.LineInput(sku=sku, quantity=transfer_units)],
        actor=None,
    )
    outcomes = {"shipped": False, "short": 0, "reserved": 0}

    def work(index):
        if index == 0:
            try:
                transfers.transfer_ship(transfer=draft.pk, actor=None)
                outcomes["shipped"] = True
            except InsufficientStock:
                pass
            return
        with transaction.atomic():
            result = reservations.reserve_orders(
                [
                    OrderDemand(
                        order_id=None, channel_id=shop.pk, lines=[LineDemand(None, sku.pk, 5)], key=index
                    )
                ]
            )
        if index in result.reserved:
            outcomes["reserved"] += 5
        else:
            outcomes["short"] += 1

    # when the shipment and the checkouts all run at once
    errors = run_parallel(20, work)

    # then every unit is in exactly one place and nothing is oversold
    assert errors == []
    at_source = StockBalance.objects.get(sku=sku, warehouse=source, pool__kind="regular")
    held = (
        Reservation.objects.filter(balance=at_source, state__in=HOLDING).aggregate(n=Sum("quantity"))["n"]
        or 0
    )
    in_transit = (
        StockBalance.objects.filter(sku=sku, warehouse=target, pool__kind="in_transit").aggregate(
            n=Sum("on_hand")
        )["n"]
        or 0
    )
    shipped = transfer_units if outcomes["shipped"] else 0
    assert at_source.on_hand == 100 - shipped and in_transit == shipped
    assert at_source.reserved == held == outcomes["reserved"]
    assert at_source.available >= 0 and held + shipped <= 100
    assert outcomes["short"] == 19 - outcomes["reserved"] // 5
    draft.refresh_from_db()
    assert draft.status == (TransferStatus.IN_TRANSIT if outcomes["shipped"] else TransferStatus.DRAFT)
    assert find_drift() == []
