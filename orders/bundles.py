"""Bundle lines (组合装) of an order: a line whose SKU is a bundle (inventory.bundles) is kept as
sold (kind "bundle", with all its money) and gets one component line per component (kind
"component", `parent_line` the bundle line), numbered after the order's other lines. The
component lines are what is reserved, routed, picked, shipped and returned; the bundle line
itself holds no stock (OrderLine.is_stocked).

Money. A component line has unit price, discounts, adjustment, order discount share and tax at
zero: the order's amounts and its revenue come from the lines as sold, and the bundle line keeps
them. Its `paid_amount` is the component's share of the bundle line's paid amount, split by the
components' reference price × units (orders.amounts.spread: exact to the cent, the shares add up
to the bundle line's paid amount; with no reference prices, by units) — so a component returned
on its own refunds what it was paid (returns.refunds.amounts, orders.amounts.units_paid), and
the components of a whole bundle refund exactly what the bundle was paid. These shares are an
allocation, not money on top: sums over an order's lines leave component lines out
(OrderLine.is_sold).

Quantities. A component line has bundle units × units per bundle; cancelling bundle units
cancels the same share of every component line (`with_components`), and a component line is
never cancelled on its own."""

from collections import defaultdict
from decimal import Decimal

from django.utils.translation import gettext as _

from core.errors import DomainError
from core.money import ZERO
from inventory import bundles
from inventory.models import SKU
from orders import amounts
from orders.models import LineKind, Order, OrderLine


def sold_kind(sku: SKU | None, *, gift: bool = False) -> str:
    """The kind of a line as sold: a bundle when its SKU is one, else a gift or goods."""
    if sku is not None and sku.is_bundle:
        return LineKind.BUNDLE
    return LineKind.GIFT if gift else LineKind.GOODS


def component_lines(lines: list[OrderLine], *, next_line_no: dict[int, int] | None = None) -> list[OrderLine]:
    """Unsaved component lines for the saved bundle lines among `lines` (several orders at once,
    one query for the recipes and one for the components' pre-sale flags). They are numbered per
    order from `next_line_no[order id]`, or after the highest line number among `lines`."""
    bundle_lines = sorted(
        (line for line in lines if line.kind == LineKind.BUNDLE and line.sku_id is not None),
        key=lambda line: (line.order_id, line.line_no),
    )
    if not bundle_lines:
        return []
    recipes = bundles.bundle_components({line.sku_id for line in bundle_lines})
    presale = dict(
        SKU.objects.filter(pk__in={c.sku_id for r in recipes.values() for c in r}).values_list(
            "pk", "presale"
        )
    )
    next_no: dict[int, int] = defaultdict(int, next_line_no or {})
    for line in lines:
        next_no[line.order_id] = max(next_no[line.order_id], line.line_no + 1)
    made = []
    for line in bundle_lines:
        components = recipes.get(line.sku_id, [])
        shares = amounts.spread(line.paid_amount, split_weights(components))
        for component, share in zip(components, shares, strict=True):
            made.append(
                OrderLine(
                    order_id=line.order_id,
                    line_no=next_no[line.order_id],
                    kind=LineKind.COMPONENT,
                    parent_line=line,
                    sku_id=component.sku_id,
                    quantity=line.quantity * component.quantity,
                    cancelled_quantity=line.cancelled_quantity * component.quantity,
                    unit_price=ZERO,
                    paid_amount=share,
                    presale=presale.get(component.sku_id, False),
                )
            )
            next_no[line.order_id] += 1
    return made


def split_weights(components: list[bundles.Component]) -> list[Decimal]:
    """What a bundle's money is split by: reference price × units, or units when no component
    has a reference price."""
    weights = [component.reference_price * component.quantity for component in components]
    if not any(weights):
        weights = [Decimal(component.quantity) for component in components]
    return weights


def empty_bundle_hold_reason(lines: list[OrderLine]) -> tuple[str, dict] | None:
    """Bundle lines that got no components (the bundle has none): nothing would ship for them,
    so the order waits until someone looks."""
    parents = {line.parent_line_id for line in lines if line.kind == LineKind.COMPONENT}
    empty = [line for line in lines if line.kind == LineKind.BUNDLE and line.pk not in parents]
    if not empty:
        return None
    codes = sorted({line.sku.code for line in empty})
    return _("Bundle without components: %(skus)s.") % {"skus": ", ".join(codes)}, {"empty_bundles": codes}


def with_components(order: Order, quantities: dict[int, int]) -> dict[int, int]:
    """{line id: units to cancel} with, for every bundle line named, the same share of each of its
    component lines added. A component line named on its own is refused: the bundle was sold
    whole, cancel the bundle line."""
    lines = {
        line.pk: line for line in order.lines.filter(pk__in=quantities).select_related("sku", "parent_line")
    }
    wanted = dict(quantities)
    for line_id in sorted(quantities):
        line = lines.get(line_id)
        if line is not None and line.kind == LineKind.COMPONENT:
            raise DomainError(
                _("Line %(no)s is part of the bundle on line %(bundle)s: cancel the bundle line.")
                % {"no": line.line_no, "bundle": line.parent_line.line_no},
                field="lines",
            )
    bundle_ids = [pk for pk, line in lines.items() if line.kind == LineKind.BUNDLE]
    if not bundle_ids:
        return wanted
    for component in order.lines.filter(parent_line_id__in=bundle_ids).select_related("parent_line"):
        per_bundle = component.quantity // component.parent_line.quantity
        wanted[component.pk] = wanted.get(component.pk, 0) + quantities[component.parent_line_id] * per_bundle
    return wanted


def component_quantities(bundle_line: OrderLine, units: int) -> dict[int, int]:
    """{component line id: units} that `units` units of a bundle line come to."""
    return {
        component.pk: units * (component.quantity // bundle_line.quantity)
        for component in bundle_line.components.all()
    }
