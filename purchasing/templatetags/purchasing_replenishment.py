"""The "Create purchase orders" form on the stock desk's replenishment page: the warehouses to
deliver to and, per suggestion, the open purchase order its SKU is already on."""

from django import template

from purchasing import selectors
from purchasing.desk.forms import active_warehouses

register = template.Library()


@register.simple_tag
def purchase_from_suggestions(suggestions) -> dict:
    return {
        "warehouses": list(active_warehouses()),
        "on_order": selectors.on_order_for_suggestions(suggestions),
    }


@register.filter
def on_order(purchase: dict, suggestion_id: int) -> str:
    return (purchase or {}).get("on_order", {}).get(suggestion_id, "")
