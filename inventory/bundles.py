"""Bundles (组合装): what a bundle is made of, the rules a bundle obeys, and what channels may
sell of it.

- A bundle is a SKU with `is_bundle` set and at least one component; it holds no stock of its
  own. A bundle cannot contain itself or another bundle (one level only), and a SKU that is a
  component of some bundle cannot become a bundle. Components are active SKUs.
- Orders reserve, route, pick, ship and return the components (orders.bundles expands a bundle
  line into component lines at intake).
- What a channel may sell of a bundle is derived: the least, over its components, of
  ⌊sellable units of the component ÷ units per bundle⌋, less the bundle's own safety stock
  (inventory.selectors.channel_sellable). A change in a component's stock pushes every bundle
  containing it (inventory.stock_push)."""

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext as _

from inventory.ledger import queue_stock_push
from inventory.models import SKU, BundleComponent, StockBalance


@dataclass(frozen=True)
class Component:
    sku_id: int
    quantity: int  # units in one bundle
    reference_price: Decimal


def bundle_components(bundle_ids) -> dict[int, list[Component]]:
    """{bundle id: its components in the order they were added}, one query; bundles without
    components are left out."""
    found: dict[int, list[Component]] = defaultdict(list)
    rows = (
        BundleComponent.objects.filter(bundle_id__in=set(bundle_ids), bundle__is_bundle=True)
        .order_by("bundle_id", "pk")
        .values_list("bundle_id", "component_id", "quantity", "reference_price")
    )
    for bundle_id, component_id, quantity, price in rows:
        found[bundle_id].append(Component(component_id, quantity, price))
    return dict(found)


def bundles_containing(sku_ids) -> set[int]:
    """Bundles having any of `sku_ids` as a component."""
    return set(
        BundleComponent.objects.filter(component_id__in=set(sku_ids), bundle__is_bundle=True).values_list(
            "bundle_id", flat=True
        )
    )


def bundle_sellable(components: list[Component], sellable: dict[int, int]) -> int:
    """Whole bundles the components' sellable units make up (none without components)."""
    if not components:
        return 0
    return max(0, min(sellable.get(c.sku_id, 0) // c.quantity for c in components))


def validate_bundle(sku: SKU, components: list[tuple[SKU, int]]) -> None:
    """Refuse a bundle that breaks the rules (module docstring), naming the field. `components`
    are the (component, units per bundle) pairs it will have once saved."""
    if not sku.is_bundle:
        if components:
            raise ValidationError(
                {"is_bundle": _("Only a bundle has components: tick “bundle” or remove the components.")}
            )
        return
    if not components:
        raise ValidationError({"is_bundle": _("A bundle needs at least one component.")})
    errors = []
    for component, quantity in components:
        if component.pk == sku.pk:
            errors.append(_("A bundle cannot contain itself."))
        elif component.is_bundle:
            errors.append(
                _("%(sku)s is a bundle: a bundle cannot contain another bundle.") % {"sku": component.code}
            )
        elif not component.is_active:
            errors.append(
                _("%(sku)s is inactive: only active SKUs can be components.") % {"sku": component.code}
            )
        if quantity < 1:
            errors.append(_("%(sku)s: at least 1 unit per bundle.") % {"sku": component.code})
    if errors:
        raise ValidationError({"is_bundle": errors})
    if sku.pk is None:
        return
    parents = sorted(
        BundleComponent.objects.filter(component=sku).values_list("bundle__code", flat=True).distinct()
    )
    if parents:
        raise ValidationError(
            {
                "is_bundle": _("%(sku)s is a component of %(bundles)s: a bundle cannot be a component.")
                % {"sku": sku.code, "bundles": ", ".join(parents)}
            }
        )
    held = StockBalance.objects.filter(sku=sku).filter(
        Q(on_hand__gt=0) | Q(reserved__gt=0) | Q(qc_hold__gt=0)
    )
    if held.exists():
        raise ValidationError(
            {"is_bundle": _("%(sku)s holds stock of its own: a bundle holds none.") % {"sku": sku.code}}
        )


def bundle_saved(sku: SKU) -> None:
    """After a bundle's components (or its flag) changed: channels are shown the new quantity."""
    queue_stock_push([sku.pk])
