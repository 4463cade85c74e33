"""Bundles (组合装) in inventory: the rules a bundle obeys (model, service and the admin form),
what each channel may sell of it (derived from its components), and the push a component's
stock change makes for every bundle containing it."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from inventory import bundles
from inventory.ledger import queue_stock_push
from inventory.models import SKU, BundleComponent, SafetyStock, StockPushPending
from inventory.selectors import channel_sellable
from inventory.stock_push import push_pending_stock, register_stock_listener, unregister_stock_listener
from orders.tests.factories import ChannelFactory, SKUFactory, ensure_master_data, make_order, receive

pytestmark = pytest.mark.django_db


@pytest.fixture
def parts():
    """SKU-1 ×9 and SKU-2 ×5 in stock; BOX = 2 × SKU-1 + 1 × SKU-2."""
    ensure_master_data(stock=0)
    receive(SKUFactory(code="SKU-1"), 9)
    receive(SKUFactory(code="SKU-2"), 5)
    receive(SKUFactory(code="SKU-3"), 1)
    box = SKU.objects.create(code="BOX", name="Gift box", is_bundle=True)
    BundleComponent.objects.create(bundle=box, component=SKUFactory(code="SKU-1"), quantity=2)
    BundleComponent.objects.create(bundle=box, component=SKUFactory(code="SKU-2"), quantity=1)
    return box


def sellable(*codes: str, channel=None) -> dict[str, int]:
    channel = channel or ChannelFactory()
    ids = {SKU.objects.get(code=code).pk: code for code in codes}
    return {ids[pk]: qty for pk, qty in channel_sellable(list(ids), [channel.pk])[channel.pk].items()}


# --- what a bundle may be -----------------------------------------------------------------------


def test_a_bundle_cannot_contain_itself_or_another_bundle(parts):
    other = SKU.objects.create(code="BOX-2", name="Another box", is_bundle=True)
    for component, field in ((parts, "component"), (other, "component")):
        with pytest.raises(ValidationError) as refused:
            BundleComponent(bundle=parts, component=component, quantity=1).full_clean()
        assert field in refused.value.message_dict
    with pytest.raises(ValidationError, match="cannot contain itself"):
        bundles.validate_bundle(parts, [(parts, 1)])
    with pytest.raises(ValidationError, match="BOX-2 is a bundle"):
        bundles.validate_bundle(parts, [(other, 1)])
    with transaction.atomic(), pytest.raises(IntegrityError):  # the database refuses it too
        BundleComponent.objects.create(bundle=parts, component=parts, quantity=1)


def test_components_are_active_skus_in_whole_units(parts):
    retired = SKUFactory(code="OLD", is_active=False)
    with pytest.raises(ValidationError, match="OLD is inactive"):
        bundles.validate_bundle(parts, [(retired, 1)])
    with pytest.raises(ValidationError, match="at least 1 unit"):
        bundles.validate_bundle(parts, [(SKUFactory(code="SKU-3"), 0)])


def test_a_component_cannot_become_a_bundle_nor_a_sku_with_stock(parts):
    sku1 = SKU.objects.get(code="SKU-1")
    sku1.is_bundle = True
    with pytest.raises(ValidationError, match="SKU-1 is a component of BOX"):
        bundles.validate_bundle(sku1, [(SKUFactory(code="SKU-3"), 1)])
    stocked = SKUFactory(code="STOCKED")
    receive(stocked, 1)
    stocked.is_bundle = True
    with pytest.raises(ValidationError, match="holds stock of its own"):
        bundles.validate_bundle(stocked, [(SKUFactory(code="SKU-3"), 1)])


def test_a_bundle_needs_components_and_only_a_bundle_has_them(parts):
    with pytest.raises(ValidationError, match="at least one component"):
        bundles.validate_bundle(parts, [])
    plain = SKUFactory(code="SKU-3")
    with pytest.raises(ValidationError, match="Only a bundle has components"):
        bundles.validate_bundle(plain, [(SKUFactory(code="SKU-1"), 1)])
    bundles.validate_bundle(parts, [(SKUFactory(code="SKU-1"), 2), (SKUFactory(code="SKU-2"), 1)])


# --- what a channel may sell of it --------------------------------------------------------------


def test_a_bundles_sellable_quantity_is_what_its_components_make_up(parts):
    # SKU-1: 9 // 2 = 4 boxes, SKU-2: 5 // 1 = 5 boxes → 4
    assert sellable("BOX", "SKU-1", "SKU-2") == {"BOX": 4, "SKU-1": 9, "SKU-2": 5}

    make_order(lines=[{"sku": "BOX", "quantity": 1, "unit_price": "100.00"}])  # holds 2 + 1
    assert sellable("BOX", "SKU-1", "SKU-2") == {"BOX": 3, "SKU-1": 7, "SKU-2": 4}

    make_order(lines=[{"sku": "SKU-2", "quantity": 2, "unit_price": "10.00"}])  # SKU-2 alone: 2 left
    assert sellable("BOX") == {"BOX": 2}


def test_safety_stock_of_components_and_of_the_bundle_both_count(parts):
    channel = ChannelFactory()
    SafetyStock.objects.create(sku=SKU.objects.get(code="SKU-2"), channel=channel, quantity=2)
    assert sellable("BOX") == {"BOX": 3}  # SKU-2: 5 − 2 = 3 boxes
    SafetyStock.objects.create(sku=parts, channel=channel, quantity=1)
    assert sellable("BOX") == {"BOX": 2}


def test_a_bundle_without_stock_of_a_component_sells_nothing(parts):
    BundleComponent.objects.create(bundle=parts, component=SKUFactory(code="NONE"), quantity=1)
    assert sellable("BOX") == {"BOX": 0}


# --- the push -----------------------------------------------------------------------------------


@pytest.fixture
def pushed(django_capture_on_commit_callbacks):
    """What the stock listeners are handed when the pending SKUs are pushed, by SKU code."""
    received: list[dict] = []
    listener = register_stock_listener(received.append)

    def push() -> dict[str, int]:
        received.clear()
        with django_capture_on_commit_callbacks(execute=True):
            push_pending_stock()
        by_code: dict[str, int] = {}
        for per_channel in received:
            by_code.update(per_channel[ChannelFactory().pk])
        return by_code

    yield push
    unregister_stock_listener(listener)


def test_a_components_stock_change_pushes_the_bundles_containing_it(parts, pushed):
    pushed()  # the set-up's own receipts
    assert not StockPushPending.objects.exists()

    receive(SKU.objects.get(code="SKU-1"), 3)  # 12 // 2 = 6, but SKU-2 allows 5

    assert StockPushPending.objects.filter(sku__code="BOX").exists() is False  # queued as SKU-1 only
    assert pushed() == {"SKU-1": 12, "BOX": 5}


def test_an_order_for_the_bundle_pushes_the_bundle_and_its_components(parts, pushed):
    pushed()

    make_order(lines=[{"sku": "BOX", "quantity": 2, "unit_price": "100.00"}])

    assert pushed() == {"SKU-1": 5, "SKU-2": 3, "BOX": 2}


def test_a_changed_bundle_is_pushed_itself(parts, pushed):
    pushed()
    BundleComponent.objects.filter(bundle=parts, component__code="SKU-1").update(quantity=3)

    bundles.bundle_saved(parts)

    assert pushed() == {"BOX": 3}  # 9 // 3


def test_queueing_a_bundle_alone_still_derives_it(parts, pushed):
    pushed()
    queue_stock_push([parts.pk])
    assert pushed() == {"BOX": 4}
