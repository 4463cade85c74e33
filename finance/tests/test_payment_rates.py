"""The rate fixed on each payment: written when the payment is recorded, never recomputed; a
payment without a rate is recorded all the same, flagged, and converted by the repair job once
a rate of its day (or before) arrives."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import DatabaseError, transaction

from core.models import Alert, AlertState
from finance.models import Payment
from finance.rates.services import payment_rates_fill, rate_save
from finance.revenue import revenue_record_refund
from finance.tests.currencies import order_in, pay, rate
from finance.tests.test_rates import FRIDAY
from orders.models import OrderStatus

pytestmark = pytest.mark.django_db
MISSING = "finance:payment-rate-missing:EUR"


def open_alert(key):
    return Alert.objects.filter(key=key).exclude(state=AlertState.RESOLVED).first()


def test_a_payment_gets_the_rate_of_its_day_and_keeps_it(settings):
    rate(FRIDAY - timedelta(days=1), "USD", "7.2000")
    rate(FRIDAY, "USD", "7.2625")
    order = order_in("USD", "99.99", FRIDAY)

    payment = pay(order, FRIDAY)

    assert (payment.rate, payment.rate_date) == (Decimal("7.2625"), FRIDAY)
    assert payment.business_amount == Decimal("726.18")  # 99.99 × 7.2625 = 726.177375
    assert payment.business_currency == "CNY"

    rate_save(day=FRIDAY, currency="USD", rate=Decimal("7.3000"))  # a corrected rate of that day
    rate(FRIDAY + timedelta(days=1), "USD", "7.4000")  # and a newer one
    assert payment_rates_fill() == 0
    revenue_record_refund(order=order, amount=Decimal("9.99"), reference="RMA-1", payment=payment)

    payment.refresh_from_db()
    assert (payment.rate, payment.business_amount) == (Decimal("7.2625"), Decimal("726.18"))
    assert payment.refunded_amount == Decimal("9.99")


@pytest.mark.postgres
def test_the_database_refuses_to_change_a_fixed_rate():
    rate(FRIDAY, "USD", "7.2625")
    payment = pay(order_in("USD", "10.00", FRIDAY), FRIDAY)

    with pytest.raises(DatabaseError, match="fixed"), transaction.atomic():
        Payment.objects.filter(pk=payment.pk).update(rate=Decimal("7.3"), business_amount=Decimal("73.00"))

    payment.refresh_from_db()
    assert payment.rate == Decimal("7.2625")


def test_a_payment_in_the_business_currency_is_worth_itself():
    payment = pay(order_in("CNY", "212.80", FRIDAY), FRIDAY)

    assert (payment.rate, payment.rate_date, payment.business_amount) == (1, FRIDAY, Decimal("212.80"))


def test_without_a_rate_the_payment_is_recorded_flagged_and_converted_when_the_rate_arrives():
    order = order_in("EUR", "10.05", FRIDAY)
    rate(FRIDAY + timedelta(days=1), "EUR", "7.80")  # a rate after the payment's day: not its rate

    payment = pay(order, FRIDAY)

    order.refresh_from_db()
    assert order.status == OrderStatus.PAID  # nothing lost: recorded and applied
    assert payment.rate is None and payment.business_amount is None and payment.business_currency == ""
    assert "EUR" in open_alert(MISSING).message
    assert payment_rates_fill() == 0  # still no rate on or before its day

    rate(FRIDAY - timedelta(days=2), "EUR", "7.7748")  # Wednesday's rate: the latest before Friday
    assert payment_rates_fill() == 1

    payment.refresh_from_db()
    assert (payment.rate, payment.rate_date) == (Decimal("7.7748"), FRIDAY - timedelta(days=2))
    assert payment.business_amount == Decimal("78.14")  # 10.05 × 7.7748 = 78.13674
    assert open_alert(MISSING) is None
    assert payment_rates_fill() == 0


def test_the_repair_converts_only_the_payments_whose_rate_arrived():
    waiting_gbp = pay(order_in("GBP", "20.00", FRIDAY), FRIDAY, txn="G-1")
    waiting_eur = pay(order_in("EUR", "20.00", FRIDAY), FRIDAY, txn="E-1")
    rate(FRIDAY, "EUR", "7.7748")

    assert payment_rates_fill(batch_size=1) == 1  # batches of one: every row still visited

    waiting_gbp.refresh_from_db()
    waiting_eur.refresh_from_db()
    assert waiting_gbp.rate is None and open_alert("finance:payment-rate-missing:GBP")
    assert waiting_eur.business_amount == Decimal("155.50")  # 20.00 × 7.7748 = 155.496
    assert open_alert(MISSING) is None
