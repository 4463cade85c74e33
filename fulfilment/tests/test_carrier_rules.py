"""Carrier rules (快递策略, issue #17 part 1): the first active rule by priority whose every
condition holds picks the carrier; the reason says which rule. Shipments are built through the
real order and shipment services (fulfilment.tests.shipping)."""

from decimal import Decimal

import pytest

from fulfilment.carrier_rules import carrier_for_shipment, carriers_for_shipments, parcel_weight_grams
from fulfilment.models import CarrierRule, CodCondition
from fulfilment.tests.shipping import allocated_shipment, carrier
from inventory.models import SKU
from orders.models import Order
from orders.tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db


def rule(name: str, priority: int, by, **conditions) -> CarrierRule:
    return CarrierRule.objects.create(name=name, priority=priority, carrier=by, **conditions)


@pytest.fixture
def carriers():
    return {
        "zto": carrier("zto", "zhongtong"),
        "ems": carrier("ems", "ems"),
        "sf": carrier("sf", "shunfeng"),
        "yto": carrier("yto", "yuantong"),
    }


def test_rules_are_tried_by_priority_and_the_first_match_wins(carriers):
    shipment = allocated_shipment()  # 浙江省 杭州市, channel shop-cn
    rule("Everything → YTO", 50, carriers["yto"])
    rule("Zhejiang → ZTO", 20, carriers["zto"], provinces=["浙江省"])
    rule("Remote provinces → EMS", 10, carriers["ems"], provinces=["新疆维吾尔自治区", "西藏自治区"])

    choice = carrier_for_shipment(shipment)

    assert choice.carrier == carriers["zto"]
    assert choice.reason == "Rule “Zhejiang → ZTO” (priority 20)"

    CarrierRule.objects.filter(name="Zhejiang → ZTO").update(is_active=False)
    assert carrier_for_shipment(shipment).carrier == carriers["yto"]  # inactive rules are skipped


def test_each_condition_must_hold(carriers):
    shipment = allocated_shipment(tags=["vip"])
    order = shipment.order
    other_channel = ChannelFactory(code="shop-other")
    sf = carriers["sf"]
    failing = [
        rule("other channel", 1, sf, channel=other_channel),
        rule("other city", 2, sf, cities=["宁波市"]),
        rule("heavy", 3, sf, min_weight_grams=5000),  # the shipment has no weight: never matches
        rule("cheap", 4, sf, max_amount=Decimal("1.00"), currency="CNY"),
        rule("dear, other currency", 5, sf, min_amount=Decimal("1.00"), currency="USD"),
        rule("other SKU", 6, sf, sku_codes=["SKU-999"]),
        rule("other tag", 7, sf, order_tags=["wholesale"]),
        rule("COD only", 8, sf, cod=CodCondition.COD),
    ]
    assert carrier_for_shipment(shipment) is None  # no rule, no default carrier

    # each rule, once its condition is made to hold, is the one chosen
    rule_by_name = {r.name: r for r in failing}
    shipment.weight_grams = 6000
    shipment.save(update_fields=["weight_grams"])
    assert carrier_for_shipment(shipment).rule == rule_by_name["heavy"]
    shipment.weight_grams = 100
    shipment.save(update_fields=["weight_grams"])
    CarrierRule.objects.filter(name="other channel").update(channel=order.channel)
    assert carrier_for_shipment(shipment).rule == rule_by_name["other channel"]
    CarrierRule.objects.filter(name="other channel").delete()
    CarrierRule.objects.filter(name="other city").update(cities=["杭州市"])
    assert carrier_for_shipment(shipment).rule == rule_by_name["other city"]
    CarrierRule.objects.filter(name="other city").delete()
    CarrierRule.objects.filter(name="cheap").update(max_amount=order.total)
    assert carrier_for_shipment(shipment).rule.name == "cheap"
    CarrierRule.objects.filter(name="cheap").delete()
    Order.objects.filter(pk=order.pk).update(currency="USD")
    shipment.order.refresh_from_db()
    assert carrier_for_shipment(shipment).rule.name == "dear, other currency"
    Order.objects.filter(pk=order.pk).update(currency="CNY")
    shipment.order.refresh_from_db()
    CarrierRule.objects.filter(name="dear, other currency").delete()
    sku_code = shipment.lines.first().sku.code
    CarrierRule.objects.filter(name="other SKU").update(sku_codes=[sku_code])
    assert carrier_for_shipment(shipment).rule.name == "other SKU"
    CarrierRule.objects.filter(name="other SKU").delete()
    CarrierRule.objects.filter(name="other tag").update(order_tags=["vip"])
    assert carrier_for_shipment(shipment).rule.name == "other tag"
    CarrierRule.objects.filter(name="other tag").delete()
    assert carrier_for_shipment(shipment) is None  # not COD
    Order.objects.filter(pk=order.pk).update(tags=["vip", "cod"])
    shipment.order.refresh_from_db()
    assert carrier_for_shipment(shipment).rule.name == "COD only"
    CarrierRule.objects.filter(name="COD only").update(cod=CodCondition.PREPAID)
    assert carrier_for_shipment(shipment) is None


def test_without_a_matching_rule_the_warehouse_default_carrier_is_used_and_said(carriers):
    shipment = allocated_shipment()
    shipment.warehouse.default_carrier = carriers["sf"]
    shipment.warehouse.save()
    rule("Remote → EMS", 10, carriers["ems"], provinces=["西藏自治区"])

    choice = carrier_for_shipment(shipment)

    assert choice.carrier == carriers["sf"] and choice.rule is None
    assert "default carrier" in choice.reason


def test_without_any_rule_the_parcels_lines_are_not_read(carriers, django_assert_num_queries):
    """A batch routing's released parcels ask for their carriers at once: with no rule to match,
    only the rules are read (one statement, not the lines of every parcel)."""
    shipment = allocated_shipment()
    shipment.warehouse.default_carrier = carriers["sf"]
    shipment.warehouse.save()
    shipment = (
        type(shipment).objects.select_related("order", "warehouse__default_carrier").get(pk=shipment.pk)
    )

    with django_assert_num_queries(1):
        choice = carriers_for_shipments([shipment])[shipment.pk]

    assert choice.carrier == carriers["sf"]


def test_a_rule_cannot_back_itself_up_or_have_an_upside_down_range(carriers):
    from django.core.exceptions import ValidationError

    bad = CarrierRule(
        name="bad",
        carrier=carriers["sf"],
        backup_carrier=carriers["sf"],
        min_weight_grams=10,
        max_weight_grams=5,
    )
    with pytest.raises(ValidationError) as refused:
        bad.full_clean()
    assert {"backup_carrier", "max_weight_grams"} <= set(refused.value.message_dict)


def test_an_unweighed_parcel_is_estimated_from_its_skus_weights(carriers):
    shipment = allocated_shipment()
    heavy = rule("heavy", 1, carriers["sf"], min_weight_grams=1000)
    lines = list(shipment.lines.select_related("sku"))
    assert carrier_for_shipment(shipment) is None or carrier_for_shipment(shipment).rule != heavy  # unknown

    for line in lines:
        SKU.objects.filter(pk=line.sku_id).update(weight_grams=600)
    units = sum(line.quantity for line in lines)
    assert parcel_weight_grams(shipment) == 600 * units
    assert (carrier_for_shipment(shipment).rule == heavy) == (600 * units >= 1000)

    shipment.weight_grams = 400  # weighed at the pack bench: the scale wins
    shipment.save(update_fields=["weight_grams"])
    assert parcel_weight_grams(shipment) == 400
    assert carrier_for_shipment(shipment) is None or carrier_for_shipment(shipment).rule != heavy
