"""Prices from an account's price list: the highest quantity tier a quantity reaches."""

from decimal import Decimal

from b2b.models import B2BAccount, PriceListItem


def list_price(account: B2BAccount, sku_id: int, quantity: int) -> Decimal | None:
    """The unit price the account's price list gives for `quantity` units, or None without one."""
    if account.price_list_id is None:
        return None
    item = (
        PriceListItem.objects.filter(
            price_list_id=account.price_list_id,
            price_list__is_active=True,
            sku_id=sku_id,
            min_quantity__lte=max(quantity, 1),
        )
        .order_by("-min_quantity")
        .first()
    )
    return item.unit_price if item else None
