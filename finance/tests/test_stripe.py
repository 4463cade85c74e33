import json
import time
from decimal import Decimal

import pytest

from core import refusals
from finance.callbacks import payment_callback_replay
from finance.models import CallbackStatus, Payment, PaymentCallback
from finance.providers import MalformedCallback
from finance.providers.stripe import from_minor_units
from finance.tests.conftest import stripe_charge_event, stripe_headers, stripe_intent_event
from orders.models import Order, OrderStatus

pytestmark = pytest.mark.django_db


def test_a_signed_payment_intent_pays_the_order(post_stripe, pending_order):
    response = post_stripe(stripe_intent_event(pending_order.number, amount=21280))

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "processed"
    payment = Payment.objects.get()
    assert (payment.provider, payment.transaction_id) == ("stripe", "pi_1")
    assert (payment.amount, payment.currency, payment.method) == (Decimal("212.80"), "CNY", "card")
    callback = PaymentCallback.objects.get()
    assert (callback.status, callback.payment) == (CallbackStatus.PROCESSED, payment)
    assert json.loads(callback.body)["type"] == "payment_intent.succeeded"  # kept for replay
    pending_order.refresh_from_db()
    assert pending_order.status == OrderStatus.PAID


def test_a_bad_signature_is_401_with_nothing_stored_but_an_audit_line(post_stripe, pending_order):
    event = stripe_intent_event(pending_order.number)

    response = post_stripe(event, headers=stripe_headers(json.dumps(event).encode(), secret="whsec_wrong"))

    assert response.status_code == 401
    callback = PaymentCallback.objects.get()
    assert (callback.status, callback.body, callback.event_id) == (CallbackStatus.REJECTED, "", None)
    assert callback.error == "Bad signature."
    assert Payment.objects.count() == 0


def test_a_flood_of_forged_deliveries_leaves_short_audit_lines_then_nothing(
    post_stripe, pending_order, settings, monkeypatch
):
    settings.REJECTED_REQUESTS_PER_MINUTE = 3
    monkeypatch.setattr(refusals, "_minute", lambda: 29_000_000)
    event = stripe_intent_event(pending_order.number)
    forged = {"Stripe-Signature": f"t={int(time.time())},v1={'0' * 64}"}
    forged.update({f"X-Junk-{n}": "x" * 8192 for n in range(40)})

    statuses = [post_stripe(event, headers=forged).status_code for _ in range(6)]

    assert statuses == [401] * 3 + [429] * 3
    lines = list(PaymentCallback.objects.all())
    assert len(lines) == 3
    assert all(len(json.dumps(line.headers)) < 1024 and line.body == "" for line in lines)
    assert post_stripe(event).json()["status"] == "processed"  # the genuine delivery still lands


def test_a_tampered_body_is_rejected(post_stripe, pending_order):
    event = stripe_intent_event(pending_order.number, amount=100)
    headers = stripe_headers(json.dumps(event).encode())
    event["data"]["object"]["amount_received"] = 21280

    assert post_stripe(event, headers=headers).status_code == 401
    assert Payment.objects.count() == 0


def test_an_expired_signature_is_rejected(post_stripe, pending_order):
    response = post_stripe(stripe_intent_event(pending_order.number), timestamp=int(time.time()) - 301)

    assert response.status_code == 401
    assert "tolerance" in PaymentCallback.objects.get().error
    assert Payment.objects.count() == 0


def test_a_missing_or_garbled_header_is_rejected(post_stripe, pending_order):
    event = stripe_intent_event(pending_order.number)

    assert post_stripe(event, headers={}).status_code == 401
    assert post_stripe(event, headers={"Stripe-Signature": "v1=abc"}).status_code == 401
    assert Payment.objects.count() == 0


def test_a_replayed_delivery_is_rejected(post_stripe, pending_order):
    event = stripe_intent_event(pending_order.number)
    body = json.dumps(event).encode()
    headers = stripe_headers(body)

    first = post_stripe(event, body=body, headers=headers)
    replay = post_stripe(event, body=body, headers=headers)

    assert (first.status_code, replay.status_code) == (200, 401)
    assert "Replayed" in replay.json()["error"]
    assert Payment.objects.count() == 1
    assert PaymentCallback.objects.filter(status=CallbackStatus.REJECTED).count() == 1


def test_a_redelivery_signed_anew_is_a_duplicate(post_stripe, pending_order):
    event = stripe_intent_event(pending_order.number)

    first = post_stripe(event, timestamp=int(time.time()) - 10)
    again = post_stripe(event)

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json()["status"] == "duplicate"
    assert Payment.objects.count() == 1


def test_a_rotated_secret_with_two_signatures_is_accepted(post_stripe, pending_order):
    event = stripe_intent_event(pending_order.number)
    body = json.dumps(event).encode()
    now = int(time.time())
    good = stripe_headers(body, timestamp=now)["Stripe-Signature"].split("v1=")[1]
    headers = {"Stripe-Signature": f"t={now},v1={'0' * 64},v1={good}"}

    assert post_stripe(event, body=body, headers=headers).status_code == 200


def test_the_charge_event_of_the_same_payment_intent_is_the_same_payment(post_stripe, pending_order):
    post_stripe(stripe_intent_event(pending_order.number))

    response = post_stripe(stripe_charge_event(pending_order.number))

    assert response.status_code == 200
    assert Payment.objects.count() == 1


def test_a_charge_without_our_metadata_is_left_to_its_payment_intent(post_stripe, pending_order):
    response = post_stripe(stripe_charge_event(None))

    assert response.status_code == 200 and response.json()["status"] == "ignored"
    assert Payment.objects.count() == 0


def test_an_uncaptured_charge_is_not_a_payment(post_stripe, pending_order):
    response = post_stripe(stripe_charge_event(pending_order.number, captured=False))

    assert response.json()["status"] == "ignored"
    assert Payment.objects.count() == 0


def test_other_events_are_acknowledged_and_ignored(post_stripe):
    event = {
        "id": "evt_other",
        "type": "customer.created",
        "created": int(time.time()),
        "data": {"object": {}},
    }

    response = post_stripe(event)

    assert (response.status_code, response.json()["status"]) == (200, "ignored")
    assert PaymentCallback.objects.get().status == CallbackStatus.IGNORED


def test_a_signed_event_without_an_order_number_is_kept_as_failed(post_stripe, pending_order):
    event = stripe_intent_event(pending_order.number)
    del event["data"]["object"]["metadata"]["order_number"]

    response = post_stripe(event)

    assert response.status_code == 400
    callback = PaymentCallback.objects.get()
    assert callback.status == CallbackStatus.FAILED and "order_number" in callback.error
    assert callback.body


def test_a_failed_callback_is_applied_on_replay_once_its_order_exists(
    post_stripe, pending_order, finance_user
):
    response = post_stripe(stripe_intent_event("SO20260101999999"))
    assert response.status_code == 400
    callback = PaymentCallback.objects.get()
    assert callback.status == CallbackStatus.FAILED and "SO20260101999999" in callback.error

    Order.objects.filter(pk=pending_order.pk).update(number="SO20260101999999")  # the order arrives
    receipt = payment_callback_replay(callback_id=callback.pk, actor=finance_user)

    callback.refresh_from_db()
    assert (receipt.outcome, callback.status, callback.attempts) == ("processed", CallbackStatus.PROCESSED, 2)
    assert Payment.objects.get().order_id == pending_order.pk


def test_the_providers_retry_of_a_failed_callback_replays_it(post_stripe, pending_order):
    event = stripe_intent_event("SO20260101999998")
    assert post_stripe(event, timestamp=int(time.time()) - 60).status_code == 400
    Order.objects.filter(pk=pending_order.pk).update(number="SO20260101999998")

    retry = post_stripe(event)

    assert retry.status_code == 200 and retry.json()["status"] == "processed"
    assert Payment.objects.count() == 1


def test_without_a_configured_secret_everything_is_rejected(post_stripe, settings, pending_order):
    settings.STRIPE_WEBHOOK_SECRET = ""

    assert post_stripe(stripe_intent_event(pending_order.number)).status_code == 401
    assert Payment.objects.count() == 0


@pytest.mark.parametrize(
    ("minor", "currency", "amount"),
    [(1999, "USD", "19.99"), (500, "JPY", "500"), (12340, "KWD", "12.34"), (0, "EUR", "0.00")],
)
def test_minor_units_follow_the_currency_exponent(minor, currency, amount):
    assert from_minor_units(minor, currency) == Decimal(amount)


@pytest.mark.parametrize(
    ("minor", "currency"), [(12345, "KWD"), (-1, "USD"), ("100", "USD"), (1.5, "USD"), (True, "USD")]
)
def test_impossible_minor_amounts_are_refused(minor, currency):
    with pytest.raises(MalformedCallback):
        from_minor_units(minor, currency)


def test_a_zero_decimal_currency_is_converted_in_a_real_callback(post_stripe, pending_order):
    post_stripe(stripe_intent_event(pending_order.number, amount=3500, currency="jpy"))

    assert (Payment.objects.get().amount, Payment.objects.get().currency) == (Decimal("3500.00"), "JPY")


def _malformed(event, path, value):
    *parents, last = path
    target = event
    for key in parents:
        target = target[key]
    target[last] = value
    return event


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("data",), [{"object": {}}], "data"),
        (("data", "object", "metadata"), ["T1"], "data.object.metadata"),
        (("created",), 10**20, "created"),
        (("data", "object", "amount_received"), 10**40, "amount"),
    ],
)
def test_a_signed_event_of_the_wrong_shape_is_a_clean_400(post_stripe, pending_order, path, value, field):
    event = _malformed(stripe_intent_event(pending_order.number), path, value)

    response = post_stripe(event)

    assert response.status_code == 400
    assert Payment.objects.count() == 0
    callback = PaymentCallback.objects.get()
    assert callback.status == CallbackStatus.FAILED and callback.error.startswith(field)


def test_a_charge_with_list_metadata_is_a_clean_400(post_stripe, pending_order):
    event = stripe_charge_event(pending_order.number)
    event["data"]["object"]["metadata"] = ["x"]

    assert post_stripe(event).status_code == 400
    assert "data.object.metadata" in PaymentCallback.objects.get().error
