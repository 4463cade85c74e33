from django import template

from finance.selectors import order_finance as select_order_finance

register = template.Library()


@register.simple_tag
def order_finance(order):
    """{% order_finance order as finance %}: the order's payments and revenue breakdown."""
    return select_order_finance(order)
