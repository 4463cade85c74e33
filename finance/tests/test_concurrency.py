"""Duplicate notifications arriving at the same moment, on real parallel connections."""

import json
import threading
from collections import Counter
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test import Client

from finance.models import AccountingPeriod, Payment, PaymentCallback
from finance.periods import period_close
from finance.services import payment_record
from finance.tests.conftest import (
    alipay_body,
    alipay_params,
    alipay_sign,
    stripe_charge_event,
    stripe_headers,
    stripe_intent_event,
)
from inventory.models import Reservation, ReservationState
from orders.models import OrderEvent, OrderEventKind, OrderStatus

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_at_once(targets):
    barrier = threading.Barrier(len(targets))
    results, errors = [], []

    def run(target):
        try:
            barrier.wait()
            results.append(target())
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(target,)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results


def mark_paid_count(order):
    return OrderEvent.objects.filter(
        order=order, kind=OrderEventKind.TRANSITION, to_status=OrderStatus.PAID
    ).count()


def assert_paid_once(order):
    order.refresh_from_db()
    # committed work runs here: routing may already have allocated the paid order
    assert order.status in (OrderStatus.PAID, OrderStatus.ALLOCATED)
    assert Payment.objects.count() == 1
    assert mark_paid_count(order) == 1
    assert not Reservation.objects.filter(order=order, state=ReservationState.ACTIVE).exists()


def test_duplicate_stripe_callbacks_at_once_make_one_payment_and_one_mark_paid(
    finance_settings, pending_order
):
    # the same event redelivered (fresh signatures) and the charge event of the same PaymentIntent
    intent = json.dumps(stripe_intent_event(pending_order.number, event_id="evt_race")).encode()
    charge = json.dumps(stripe_charge_event(pending_order.number)).encode()

    def post(body, offset):
        headers = stripe_headers(body, timestamp=int(datetime.now(UTC).timestamp()) - offset)
        return (
            Client()
            .post(
                "/finance/webhooks/stripe/",
                body,
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=headers["Stripe-Signature"],
            )
            .status_code
        )

    statuses = run_at_once([lambda n=n: post(intent, n) for n in range(6)] + [lambda: post(charge, 0)] * 2)

    assert set(statuses) <= {200, 401}  # 401: the same charge delivery twice is a replay
    assert_paid_once(pending_order)
    assert PaymentCallback.objects.filter(event_id="evt_race").count() == 1


def test_duplicate_alipay_notifications_at_once_make_one_payment(alipay_settings, alipay_key, pending_order):
    bodies = [
        alipay_body(alipay_sign(alipay_params(pending_order.number, notify_id=f"n-{n % 3}"), alipay_key))
        for n in range(8)
    ]

    def post(body):
        response = Client().post(
            "/finance/webhooks/alipay/", body, content_type="application/x-www-form-urlencoded"
        )
        return response.content

    answers = run_at_once([lambda b=b: post(b) for b in bodies])

    assert Counter(answers) == {b"success": 8}
    assert_paid_once(pending_order)
    assert PaymentCallback.objects.count() == 3


def test_the_same_api_payment_posted_at_once_is_recorded_once(pending_order):
    def record():
        return payment_record(
            order_number=pending_order.number,
            provider="api",
            transaction_id="T-RACE",
            amount=pending_order.total,
            currency="CNY",
            paid_at=datetime(2026, 2, 3, tzinfo=UTC),
        )[1]

    created = run_at_once([record] * 8)

    assert Counter(created) == {True: 1, False: 7}
    assert_paid_once(pending_order)


def test_nothing_is_booked_into_a_period_once_its_close_has_committed(finance_user, pending_order):
    from orders.tests.factories import make_order

    orders = [pending_order] + [make_order() for _ in range(5)]
    january = datetime(2026, 1, 20, tzinfo=UTC)

    def record(order):
        return payment_record(
            order_number=order.number,
            provider="api",
            transaction_id=f"T-{order.number}",
            amount=order.total,
            currency="CNY",
            paid_at=january,
        )[0].pk

    def close():
        return period_close(year=2026, month=1, actor=finance_user, now=datetime(2026, 2, 5, tzinfo=UTC)).pk

    run_at_once([lambda o=o: record(o) for o in orders] + [close])

    closed = AccountingPeriod.objects.get(year=2026, month=1)
    in_january = Payment.objects.filter(period=closed)
    assert all(payment.created_at <= closed.closed_at for payment in in_january)
    assert Payment.objects.exclude(period=closed).filter(period_note="").count() == 0
    assert Payment.objects.count() == 6
