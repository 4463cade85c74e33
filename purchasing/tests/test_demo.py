"""The purchasing demo data: suppliers with items and purchase orders in several states."""

import pytest

from core.roles import Role
from orders.tests.factories import SKUFactory, WarehouseFactory
from purchasing.demo import seed_purchasing_demo
from purchasing.models import PurchaseOrder, PurchaseOrderState, Supplier, SupplierItem
from purchasing.tests.factories import on_hand

pytestmark = pytest.mark.django_db


def test_the_demo_has_suppliers_items_and_orders_in_several_states_once(make_user):
    for username, role in (("buyer", Role.BUYER), ("manager", Role.MANAGER), ("warehouse", Role.WAREHOUSE)):
        make_user(role, username=username)
    WarehouseFactory()
    skus = [SKUFactory(code=f"DEMO-{i:02d}") for i in range(12)]

    seed_purchasing_demo()

    assert Supplier.objects.count() == 3
    assert SupplierItem.objects.filter(is_preferred=True).count() == len(skus)
    states = set(PurchaseOrder.objects.values_list("state", flat=True))
    assert {
        PurchaseOrderState.PENDING_APPROVAL,
        PurchaseOrderState.APPROVED,
        PurchaseOrderState.PARTIALLY_RECEIVED,
    } <= states
    received = (
        PurchaseOrder.objects.get(state=PurchaseOrderState.PARTIALLY_RECEIVED).lines.order_by("pk").first()
    )
    assert on_hand(received.sku.code) == received.received_quantity > 0

    seed_purchasing_demo()  # a second run adds nothing
    assert Supplier.objects.count() == 3
