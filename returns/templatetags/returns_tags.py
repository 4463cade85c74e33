from django import template

from returns import policy, selectors

register = template.Library()


@register.simple_tag
def order_returns(order) -> dict:
    """The order's RMAs (and the RMA an exchange order was made for), and whether anything
    delivered is still returnable (the order detail's Returns panel)."""
    rmas = selectors.order_returns(order)
    return {
        "rmas": [r for r in rmas if r.order_id == order.pk],
        "exchange_for": next((r for r in rmas if r.exchange_order_id == order.pk), None),
        "returnable": sum(a.returnable for a in policy.line_allowances(order).values()),
    }
