"""Orders, payments and rates in several currencies for the exchange-rate tests."""

from datetime import datetime, time, timedelta
from decimal import Decimal

from django.utils import timezone

from core.timezones import business_date, business_zone
from finance.rates.models import ExchangeRate, RateSource
from finance.services import payment_record
from orders.tests.factories import make_order


def at(day, hour=12) -> datetime:
    """`hour` o'clock on a business day (Asia/Shanghai), aware."""
    return datetime.combine(day, time(hour), tzinfo=business_zone())


def rate(day, currency, value, source=RateSource.IMPORT) -> ExchangeRate:
    return ExchangeRate.objects.create(
        date=day, currency=currency, business_currency="CNY", rate=Decimal(value), source=source
    )


def earlier_today(ago: timedelta) -> datetime:
    """`ago` before now, but not before the business day began: a test's order of today stays on
    today in the day's first hours too (16:00–18:00 UTC is 00:00–02:00 in Beijing)."""
    return max(timezone.now() - ago, datetime.combine(business_date(), time.min, tzinfo=business_zone()))


def order_in(
    currency: str, total: str, day=None, channel: str = "shop-cn", hour: int = 12, commission="3.20"
):
    """An unpaid order of exactly `total` in `currency`, placed at `hour` on `day` (or two hours
    ago, but today): one line at that price, no shipping, no discount."""
    placed_at = at(day, hour) if day else earlier_today(timedelta(hours=2))
    return make_order(
        channel=channel,
        currency=currency,
        placed_at=placed_at.isoformat(),
        platform_commission=commission,
        lines=[{"sku": "SKU-1", "quantity": 1, "unit_price": total}],
        shipping_fee="0.00",
        discount="0.00",
    )


def pay(order, day=None, txn=None, hour: int = 13):
    payment, _created = payment_record(
        order_number=order.number,
        provider="api",
        transaction_id=txn or f"TX-{order.pk}",
        amount=order.total,
        currency=order.currency,
        paid_at=at(day, hour) if day else timezone.now() - timedelta(minutes=1),
    )
    return payment
