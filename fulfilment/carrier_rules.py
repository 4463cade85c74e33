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
    return _weight(
        shipment,
        list(ShipmentLine.objects.filter(shipment=shipment).values_list("quantity", "sku__weight_grams")),
    )


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
    return carriers_for_shipments([shipment])[shipment.pk]


def carriers_for_shipments(shipments: list[Shipment]) -> dict[int, CarrierChoice | None]:
    """carrier_for_shipment for several shipments, reading the rules and the parcels' lines once
    (not at all without a rule to match them against: then only the warehouse's default counts)."""
    rules = list(
        CarrierRule.objects.filter(is_active=True, carrier__is_active=True)
        .select_related("carrier", "backup_carrier")
        .order_by("priority", "pk")
    )
    sku_codes: dict[int, set[str]] = {s.pk: set() for s in shipments}
    units: dict[int, list[tuple[int, int | None]]] = {s.pk: [] for s in shipments}
    if rules:
        for shipment_id, code, quantity, weight in ShipmentLine.objects.filter(
            shipment_id__any=[s.pk for s in shipments]
        ).values_list("shipment_id", "sku__code", "quantity", "sku__weight_grams"):
            sku_codes[shipment_id].add(code)
            units[shipment_id].append((quantity, weight))
    return {s.pk: _choose(s, rules, sku_codes[s.pk], _weight(s, units[s.pk])) for s in shipments}


def _weight(shipment: Shipment, units: list[tuple[int, int | None]]) -> int | None:
    """parcel_weight_grams from lines already read."""
    if shipment.weight_grams is not None:
        return shipment.weight_grams
    if not units or any(weight is None for _quantity, weight in units):
        return None
    return sum(quantity * weight for quantity, weight in units)


def _choose(
    shipment: Shipment, rules: list[CarrierRule], sku_codes: set[str], weight
) -> CarrierChoice | None:
    for rule in rules:
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
