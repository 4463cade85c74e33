"""Carrier rules (快递策略, issue #17 part 1): which carrier takes a shipment, and why.

`carrier_for_shipment` reads; it changes nothing. The rules are tried by ascending priority (then
id); the first active one whose every condition holds wins. Conditions, each empty = any:

- channel: the order's channel;
- provinces / cities: the order's destination (exact names as the order holds them, e.g. "新疆
  维吾尔自治区"; a rule may list either spelling);
- weight range: `Shipment.weight_grams` once the parcel is weighed, else its units' SKU weights
  (`SKU.weight_grams`) added up; a parcel with a unit of unknown weight has no weight, and a rule
  with a weight range does not match it — rather than guessing;
- order-total range with its currency: an order in another currency never matches;
- SKU codes: the parcel carries any of them; order tags: the order has any of them;
- cash on delivery: the order is tagged "cod" (JD's payType 1 货到付款 is mapped to that tag).

No rule matching: a carrier already set on the shipment, else the warehouse's default carrier."""

from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext as _

from fulfilment.models import Carrier, CarrierRule, CodCondition, Shipment, ShipmentLine

COD_TAG = "cod"


@dataclass(frozen=True)
class CarrierChoice:
    carrier: Carrier
    backup: Carrier | None
    reason: str
    rule: CarrierRule | None = None

    def as_routing(self) -> dict:
        """What is kept in `shipment.routing["carrier"]` and shown on the shipment page."""
        return {
            "rule_id": self.rule.pk if self.rule else None,
            "carrier": self.carrier.code,
            "backup": self.backup.code if self.backup else "",
            "reason": self.reason,
        }


def _names(values) -> set[str]:
    return {str(v).strip() for v in values or [] if str(v).strip()}


def parcel_weight_grams(shipment: Shipment) -> int | None:
    """The weighed weight, else the SKUs' weights × units (None when any is unknown)."""
    if shipment.weight_grams is not None:
        return shipment.weight_grams
    lines = list(ShipmentLine.objects.filter(shipment=shipment).values_list("quantity", "sku__weight_grams"))
    if not lines or any(weight is None for _quantity, weight in lines):
        return None
    return sum(quantity * weight for quantity, weight in lines)


def rule_matches(
    rule: CarrierRule, shipment: Shipment, sku_codes: set[str], weight: int | None = None
) -> bool:
    order = shipment.order
    tags = _names(order.tags)
    if rule.channel_id and rule.channel_id != order.channel_id:
        return False
    if rule.provinces and order.ship_province.strip() not in _names(rule.provinces):
        return False
    if rule.cities and order.ship_city.strip() not in _names(rule.cities):
        return False
    if rule.min_weight_grams is not None or rule.max_weight_grams is not None:
        if weight is None:
            return False
        if rule.min_weight_grams is not None and weight < rule.min_weight_grams:
            return False
        if rule.max_weight_grams is not None and weight > rule.max_weight_grams:
            return False
    if rule.min_amount is not None or rule.max_amount is not None:
        if rule.currency != order.currency:
            return False
        total = Decimal(order.total)
        if rule.min_amount is not None and total < rule.min_amount:
            return False
        if rule.max_amount is not None and total > rule.max_amount:
            return False
    if rule.sku_codes and not (_names(rule.sku_codes) & sku_codes):
        return False
    if rule.order_tags and not (_names(rule.order_tags) & tags):
        return False
    if rule.cod == CodCondition.COD and COD_TAG not in tags:
        return False
    return not (rule.cod == CodCondition.PREPAID and COD_TAG in tags)


def rule_reason(rule: CarrierRule) -> str:
    return _("Rule “%(name)s” (priority %(priority)s)") % {"name": rule.name, "priority": rule.priority}


def carrier_for_shipment(shipment: Shipment) -> CarrierChoice | None:
    """The carrier the shipment should go with and the reason; None when nothing names one."""
    sku_codes = set(
        ShipmentLine.objects.filter(shipment=shipment).values_list("sku__code", flat=True).distinct()
    )
    rules = CarrierRule.objects.filter(is_active=True, carrier__is_active=True).select_related(
        "carrier", "backup_carrier"
    )
    weight = parcel_weight_grams(shipment)
    for rule in rules.order_by("priority", "pk"):
        if rule_matches(rule, shipment, sku_codes, weight):
            backup = rule.backup_carrier if rule.backup_carrier and rule.backup_carrier.is_active else None
            return CarrierChoice(carrier=rule.carrier, backup=backup, reason=rule_reason(rule), rule=rule)
    if shipment.carrier_id:
        return CarrierChoice(carrier=shipment.carrier, backup=None, reason=_("Carrier set on the shipment"))
    default = shipment.warehouse.default_carrier
    if default is not None and default.is_active:
        return CarrierChoice(
            carrier=default,
            backup=None,
            reason=_("No carrier rule matched: the warehouse's default carrier"),
        )
    return None
