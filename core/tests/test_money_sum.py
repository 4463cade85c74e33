"""core.money.MoneySum: totals of money exact to the cent on SQLite (make run's embedded default)
as on PostgreSQL, and read back like a stored amount (two places)."""

from decimal import Decimal
from itertools import islice, product
from string import ascii_uppercase

import pytest
from django.db.models import F, Q

from b2b.models import ApprovalRule, ApprovalTier
from core.money import MoneySum

pytestmark = pytest.mark.django_db


def rule(currency: str, amount: str) -> ApprovalRule:
    return ApprovalRule(currency=currency, min_amount=Decimal(amount), tier=ApprovalTier.STANDARD)


def test_a_total_is_exact_to_the_cent_however_many_amounts_it_adds():
    # 99,999,999,999.99 then 2,000 cents (in this order in the table and in its index): added up as
    # binary floats, as SQLite's SUM adds REALs, the total comes out 100000000019.97902
    base, *others = islice(("".join(code) for code in product(ascii_uppercase, repeat=3)), 2001)
    ApprovalRule.objects.bulk_create([rule(base, "99999999999.99"), *(rule(code, "0.01") for code in others)])

    total = ApprovalRule.objects.aggregate(total=MoneySum("min_amount"))["total"]

    assert str(total) == "100000000019.99"


def test_a_filtered_total_and_a_total_of_amounts_times_units_read_like_stored_amounts():
    ApprovalRule.objects.bulk_create([rule("CNY", "212.80"), rule("USD", "20.02"), rule("USD", "10.00")])

    sums = ApprovalRule.objects.aggregate(
        usd=MoneySum("min_amount", filter=Q(currency="USD")),
        tripled=MoneySum(F("min_amount") * 3),
        jpy=MoneySum("min_amount", filter=Q(currency="JPY")),
    )
    by_currency = dict(
        ApprovalRule.objects.values("currency")
        .annotate(s=MoneySum("min_amount"))
        .values_list("currency", "s")
    )

    assert (str(sums["usd"]), str(sums["tripled"]), sums["jpy"]) == ("30.02", "728.46", None)
    assert {currency: str(amount) for currency, amount in by_currency.items()} == {
        "CNY": "212.80",
        "USD": "30.02",
    }
