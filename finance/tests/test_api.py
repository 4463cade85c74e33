from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.test import APIClient

from core.models import Alert
from finance.models import Payment, PaymentProvider, RevenueKind
from inventory.models import Reservation, ReservationState
from orders.models import OrderEvent, OrderEventKind, OrderStatus
from orders.tests.factories import make_order, order_in_state

pytestmark = pytest.mark.django_db
URL = "/api/v1/payments/"


def body(order, **overrides):
    data = {
        "order_number": order.number,
        "transaction_id": "T-PAY-1",
        "amount": "212.80",
        "currency": "CNY",
        "paid_at": "2026-02-16T09:30:00+08:00",
        "method": "wechat",
    }
    data.update(overrides)
    return data


def mark_paid_events(order):
    return OrderEvent.objects.filter(order=order, kind=OrderEventKind.TRANSITION, to_status=OrderStatus.PAID)


def test_a_payment_is_recorded_and_moves_the_order_to_paid_committing_its_reservations(
    finance_api, pending_order
):
    assert Reservation.objects.filter(order=pending_order, state=ReservationState.ACTIVE).exists()

    response = finance_api.post(URL, body(pending_order), format="json")

    assert response.status_code == 201, response.data
    assert response.data["order_status"] == "paid"
    assert (response.data["amount"], response.data["currency"]) == ("212.80", "CNY")
    assert parse_datetime(response.data["paid_at"]) == datetime(2026, 2, 16, 1, 30, tzinfo=UTC)
    assert response.data["period"] == "2026-02"
    pending_order.refresh_from_db()
    assert pending_order.status == OrderStatus.PAID
    states = set(Reservation.objects.filter(order=pending_order).values_list("state", flat=True))
    assert states == {ReservationState.COMMITTED}
    assert mark_paid_events(pending_order).count() == 1
    assert pending_order.revenue_lines.filter(kind=RevenueKind.GOODS).exists()


def test_the_same_transaction_again_answers_200_with_the_recorded_payment(finance_api, pending_order):
    first = finance_api.post(URL, body(pending_order), format="json")
    again = finance_api.post(
        URL, body(pending_order, method="card", paid_at="2026-02-16T10:00:00+08:00"), format="json"
    )

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.data["id"] == first.data["id"]
    assert again.data["method"] == "wechat"  # never overwritten
    assert Payment.objects.count() == 1
    assert mark_paid_events(pending_order).count() == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [({"amount": "200.00"}, "amount"), ({"currency": "USD"}, "currency")],
)
def test_the_same_transaction_with_other_facts_is_refused_with_409_and_an_alert(
    finance_api, pending_order, change, field
):
    finance_api.post(URL, body(pending_order), format="json")

    response = finance_api.post(URL, body(pending_order, **change), format="json")

    assert response.status_code == 409
    assert field in response.data["transaction_id"][0]
    payment = Payment.objects.get()
    assert (payment.amount, payment.currency) == (Decimal("212.80"), "CNY")
    alert = Alert.objects.get(kind="finance.payment_conflict")
    assert alert.role == "finance" and alert.payload["differences"] == [field]


def test_the_same_transaction_for_another_order_is_refused(finance_api, pending_order):
    other = make_order()
    finance_api.post(URL, body(pending_order), format="json")

    response = finance_api.post(URL, body(other), format="json")

    assert response.status_code == 409
    other.refresh_from_db()
    assert other.status == OrderStatus.PENDING_PAYMENT
    assert Alert.objects.filter(kind="finance.payment_conflict").count() == 1


def test_a_bad_body_names_each_field_and_stores_nothing(finance_api, pending_order):
    response = finance_api.post(
        URL,
        {"order_number": pending_order.number, "amount": "-1", "currency": "yuan", "paid_at": "yesterday"},
        format="json",
    )

    assert response.status_code == 400
    assert set(response.data) == {"transaction_id", "amount", "currency", "paid_at"}
    assert Payment.objects.count() == 0


def test_an_unknown_order_is_a_field_error(finance_api, pending_order):
    response = finance_api.post(URL, body(pending_order, order_number="SO-NOPE"), format="json")

    assert response.status_code == 400
    assert "SO-NOPE" in response.data["order_number"][0]
    assert Payment.objects.count() == 0


def test_a_payment_dated_in_the_future_is_refused(finance_api, pending_order):
    future = (timezone.now() + timedelta(hours=3)).isoformat()

    response = finance_api.post(URL, body(pending_order, paid_at=future), format="json")

    assert response.status_code == 400 and "paid_at" in response.data


def test_a_time_without_offset_is_read_in_the_business_time_zone(finance_api, pending_order):
    response = finance_api.post(URL, body(pending_order, paid_at="2026-01-31T23:59:59"), format="json")

    assert parse_datetime(response.data["paid_at"]) == datetime(2026, 1, 31, 15, 59, 59, tzinfo=UTC)
    assert response.data["period"] == "2026-01"


def test_only_finance_may_record_payments(agent, pending_order):
    client = APIClient()
    client.force_authenticate(agent)

    assert client.post(URL, body(pending_order), format="json").status_code == 403
    assert APIClient().post(URL, body(pending_order), format="json").status_code in (401, 403)
    assert Payment.objects.count() == 0


def test_a_partial_payment_leaves_the_order_unpaid_until_the_rest_arrives(finance_api, pending_order):
    deposit = finance_api.post(
        URL, body(pending_order, transaction_id="DEP-1", amount="50.00"), format="json"
    )

    assert deposit.status_code == 201 and deposit.data["order_status"] == "pending_payment"
    alert = Alert.objects.get(kind="finance.order_underpaid")
    assert alert.state == "open"

    rest = finance_api.post(URL, body(pending_order, transaction_id="BAL-1", amount="162.80"), format="json")

    assert rest.data["order_status"] == "paid"
    alert.refresh_from_db()
    assert alert.state == "resolved"
    assert mark_paid_events(pending_order).count() == 1


def test_an_overpayment_marks_the_order_paid_and_is_flagged(finance_api, pending_order):
    response = finance_api.post(URL, body(pending_order, amount="300.00"), format="json")

    assert response.data["order_status"] == "paid"
    assert Alert.objects.filter(kind="finance.order_overpaid", payload__order=pending_order.number).exists()


def test_a_payment_in_another_currency_is_recorded_flagged_and_does_not_pay_the_order(
    finance_api, pending_order
):
    response = finance_api.post(URL, body(pending_order, currency="USD", amount="30.00"), format="json")

    assert response.status_code == 201 and response.data["order_status"] == "pending_payment"
    assert Alert.objects.filter(kind="finance.payment_currency").exists()


def test_paying_an_order_already_paid_only_records_the_payment(finance_api):
    order = order_in_state("paid")
    events_before = OrderEvent.objects.filter(order=order, kind=OrderEventKind.TRANSITION).count()

    response = finance_api.post(URL, body(order), format="json")

    assert response.status_code == 201 and response.data["order_status"] == "paid"
    assert OrderEvent.objects.filter(order=order, kind=OrderEventKind.TRANSITION).count() == events_before


def test_a_payment_for_a_cancelled_order_is_recorded_and_alerted_for_a_refund(finance_api):
    order = order_in_state("cancelled")

    response = finance_api.post(URL, body(order), format="json")

    assert response.status_code == 201 and response.data["order_status"] == "cancelled"
    assert Alert.objects.filter(kind="finance.paid_after_cancel").exists()


def test_a_payment_for_an_order_held_before_payment_stays_held_and_is_released_to_paid(finance_api):
    order = order_in_state("on_hold")

    finance_api.post(URL, body(order), format="json")

    order.refresh_from_db()
    assert (order.status, order.held_from) == (OrderStatus.ON_HOLD, OrderStatus.PAID)


def test_the_provider_fee_becomes_a_fee_line(finance_api, pending_order):
    finance_api.post(URL, body(pending_order, fee="1.28", provider=PaymentProvider.WECHAT_PAY), format="json")

    fee = pending_order.revenue_lines.get(kind=RevenueKind.FEE)
    assert fee.amount == Decimal("-1.28") and fee.source.startswith("payment:")


def test_payments_are_listed_by_order_number(finance_api, pending_order):
    finance_api.post(URL, body(pending_order), format="json")
    finance_api.post(URL, body(make_order(), transaction_id="T-OTHER"), format="json")

    response = finance_api.get(URL, {"order_number": pending_order.number})

    assert response.status_code == 200
    assert [row["transaction_id"] for row in response.data["results"]] == ["T-PAY-1"]


def test_the_order_timeline_shows_the_payment(finance_api, pending_order):
    finance_api.post(URL, body(pending_order), format="json")

    note = OrderEvent.objects.get(order=pending_order, kind=OrderEventKind.NOTE, payload__provider="api")
    assert "T-PAY-1" in note.reason
