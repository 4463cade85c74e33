"""R-R4: the inspection result creates the refund — amount rules, booked once in finance, sent
once through the outbox to the payment provider (a local fake Stripe / Alipay gateway)."""

import base64
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.db import connection
from django.utils import timezone

from core.models import Alert, OutboxMessage, OutboxState
from core.outbox import outbox_deliver
from finance.models import Payment, PaymentStatus, RevenueKind, RevenueLine
from finance.services import payment_record
from orders.models import OrderEvent
from orders.tests.factories import WarehouseFactory
from returns import inspection, logistics
from returns.models import RefundProvider, RefundState, ReturnPolicy, ReturnRefund, ReturnStatus
from returns.refunds.alipay import alipay_request_content
from returns.refunds.lifecycle import refund_record_outcome
from returns.tests.conftest import delivered_order, movements, receive_and_inspect, request_return

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def order():
    return delivered_order()


def refunded(order) -> list[Decimal]:
    return list(
        RevenueLine.objects.filter(order=order, kind=RevenueKind.REFUND).values_list("amount", flat=True)
    )


# --- amount rules -------------------------------------------------------------------------------


def test_an_intact_no_reason_return_refunds_the_paid_unit_price(order):
    # SKU-1: 2 × 59.90 less 5.00 = 114.80, less its share of the 10.00 order discount
    # (10 × 114.80 / 214.80 = 5.34) = 109.46 for 2 units → 54.73 each. No shipping: no fault.
    rma = receive_and_inspect(request_return(order, (1, 1)), {1: {"intact": 1}})

    refund = ReturnRefund.objects.get(rma=rma)
    assert (refund.goods_amount, refund.shipping_amount, refund.amount) == (D("54.73"), D("0.00"), D("54.73"))
    assert rma.status == ReturnStatus.REFUNDING  # requested: the money has not gone out yet
    assert refunded(order) == [D("-54.73")]


def test_the_rma_says_refunded_only_once_the_money_went_out(order):
    rma = receive_and_inspect(request_return(order, (1, 1)), {1: {"intact": 1}})
    refund = ReturnRefund.objects.get(rma=rma)
    assert rma.status == ReturnStatus.REFUNDING and refund.state != RefundState.SUCCEEDED

    refund_record_outcome(refund_id=refund.pk, state=RefundState.FAILED, error="card expired")
    rma.refresh_from_db()
    assert rma.status == ReturnStatus.REFUNDING  # a failed attempt is still money owed

    refund_record_outcome(refund_id=refund.pk, state=RefundState.SUCCEEDED, reference="re_1")
    rma.refresh_from_db()
    assert rma.status == ReturnStatus.CLOSED
    moves = OrderEvent.objects.filter(payload__rma=rma.number, payload__has_key="rma_to").order_by("pk")
    steps = [event.payload["rma_to"] for event in moves]
    assert steps[-3:] == [ReturnStatus.REFUNDING, ReturnStatus.REFUNDED, ReturnStatus.CLOSED]


def test_damaged_on_arrival_refunds_in_full_with_shipping(order):
    rma = receive_and_inspect(request_return(order, (2, 1), reason="damaged"), {2: {"damaged": 1}})

    refund = rma.refund
    # SKU-2: 100.00 less its 4.66 share of the order discount = 95.34, plus the 8.00 shipping.
    assert (refund.goods_amount, refund.shipping_amount, refund.amount) == (
        D("95.34"),
        D("8.00"),
        D("103.34"),
    )


def test_goods_the_customer_damaged_are_refunded_in_part(order):
    ReturnPolicy.objects.create(damaged_refund_percent=50)

    rma = receive_and_inspect(request_return(order, (2, 1)), {2: {"damaged": 1}})

    assert rma.refund.amount == D("47.67")  # 50 % of 95.34


def test_a_restocking_fee_is_kept_from_no_reason_returns(order):
    ReturnPolicy.objects.create(restocking_fee_percent=10)

    rma = receive_and_inspect(request_return(order, (2, 1)), {2: {"intact": 1}})

    assert (rma.refund.restocking_fee, rma.refund.amount) == (D("9.53"), D("85.81"))


def test_everything_back_for_a_seller_fault_refunds_the_whole_order_total(order):
    rma = receive_and_inspect(
        request_return(order, (1, 2), (2, 1), reason="not_as_described"), {1: {"intact": 2}, 2: {"intact": 1}}
    )

    assert rma.refund.amount == order.total == D("212.80")


def test_shipping_is_refunded_once_per_order(order):
    first = receive_and_inspect(request_return(order, (1, 1), reason="wrong_item"), {1: {"intact": 1}})
    second = receive_and_inspect(request_return(order, (2, 1), reason="wrong_item"), {2: {"intact": 1}})

    assert (first.refund.shipping_amount, second.refund.shipping_amount) == (D("8.00"), D("0.00"))


def test_a_wrong_item_gets_no_refund(order):
    rma = receive_and_inspect(request_return(order, (1, 2)), {1: {"intact": 1, "wrong_item": 1}})

    assert rma.refund.amount == D("54.73")
    assert rma.refund.detail["lines"][0]["wrong_item"] == 1


def test_without_a_provider_payment_finance_pays_out_by_hand(order, finance_user):
    rma = receive_and_inspect(request_return(order, (1, 1)), {1: {"intact": 1}})

    refund = rma.refund
    assert (refund.provider, refund.state) == (RefundProvider.MANUAL, RefundState.MANUAL)
    assert Alert.objects.get(key=f"return_refund_manual:{rma.number}").role == "finance"
    assert not OutboxMessage.objects.filter(idempotency_key=f"refund:{rma.number}").exists()

    from returns.refunds.lifecycle import refund_confirm_manual

    refund_confirm_manual(refund=refund, reference="BANK-778", actor=finance_user)
    rma.refresh_from_db()
    refund.refresh_from_db()
    assert (refund.state, refund.provider_reference, rma.status) == (
        RefundState.SUCCEEDED,
        "BANK-778",
        "closed",
    )


def test_the_refund_state_shows_on_the_order_timeline(order):
    rma = receive_and_inspect(request_return(order, (1, 1)), {1: {"intact": 1}})

    texts = list(
        OrderEvent.objects.filter(order=order, payload__rma=rma.number).values_list("reason", flat=True)
    )
    assert any("Refund of 54.73 CNY created" in text for text in texts)


# --- Stripe ------------------------------------------------------------------------------------


@pytest.fixture
def stripe(settings, provider):
    settings.STRIPE_SECRET_KEY = "sk_test_conduit"
    settings.STRIPE_API_URL = provider.base_url
    return provider


def paid_by(order, provider_name: str, transaction_id: str) -> Payment:
    payment, _created = payment_record(
        order_number=order.number,
        provider=provider_name,
        transaction_id=transaction_id,
        amount=order.total,
        currency=order.currency,
        paid_at=timezone.now() - timedelta(days=3),
    )
    return payment


def test_a_stripe_payment_is_refunded_through_the_outbox_with_an_idempotency_key(
    order, stripe, django_capture_on_commit_callbacks
):
    payment = paid_by(order, "stripe", "pi_3Nconduit")
    stripe.answer(
        "/v1/refunds", 200, {"id": "re_123", "object": "refund", "status": "succeeded", "amount": 5473}
    )

    with django_capture_on_commit_callbacks(execute=True):
        rma = receive_and_inspect(request_return(order, (1, 1)), {1: {"intact": 1}})

    [call] = stripe.requests
    assert (call["method"], call["path"]) == ("POST", "/v1/refunds")
    assert call["headers"]["Idempotency-Key"] == f"refund:{rma.number}"
    assert call["headers"]["Authorization"] == "Bearer sk_test_conduit"
    assert call["body"]["payment_intent"] == "pi_3Nconduit"
    assert call["body"]["amount"] == "5473"  # minor units
    assert call["body"]["metadata[rma]"] == rma.number
    refund = ReturnRefund.objects.get(rma=rma)
    assert (refund.provider, refund.state, refund.provider_reference) == ("stripe", "succeeded", "re_123")
    payment.refresh_from_db()
    assert (payment.refunded_amount, payment.status) == (D("54.73"), PaymentStatus.PARTIALLY_REFUNDED)
    rma.refresh_from_db()
    assert rma.status == ReturnStatus.CLOSED
    assert OrderEvent.objects.filter(order=order, reason__contains="completed by Stripe (re_123)").exists()


def test_a_stripe_outage_is_retried_and_the_retry_refunds_once(
    order, stripe, django_capture_on_commit_callbacks
):
    paid_by(order, "stripe", "pi_outage")
    stripe.answer("/v1/refunds", 503, {"error": {"message": "try later"}})
    stripe.answer("/v1/refunds", 200, {"id": "re_9", "status": "succeeded"})

    with django_capture_on_commit_callbacks(execute=True):
        rma = receive_and_inspect(request_return(order, (1, 1)), {1: {"intact": 1}})

    message = OutboxMessage.objects.get(idempotency_key=f"refund:{rma.number}")
    assert (message.state, message.attempts) == (OutboxState.PENDING, 1)
    assert ReturnRefund.objects.get(rma=rma).state == RefundState.PENDING

    outbox_deliver(message.pk, now=timezone.now() + timedelta(hours=1))

    assert ReturnRefund.objects.get(rma=rma).state == RefundState.SUCCEEDED
    keys = {r["headers"]["Idempotency-Key"] for r in stripe.requests}
    assert keys == {f"refund:{rma.number}"}  # the retry carried the same key
    assert refunded(order) == [D("-54.73")]


def test_a_refund_stripe_refuses_is_failed_dead_lettered_and_alerted(
    order, stripe, django_capture_on_commit_callbacks
):
    paid_by(order, "stripe", "pi_refused")
    stripe.answer("/v1/refunds", 400, {"error": {"code": "charge_already_refunded"}})

    with django_capture_on_commit_callbacks(execute=True):
        rma = receive_and_inspect(request_return(order, (1, 1)), {1: {"intact": 1}})

    refund = ReturnRefund.objects.get(rma=rma)
    assert refund.state == RefundState.FAILED and "charge_already_refunded" in refund.error
    assert OutboxMessage.objects.get(idempotency_key=f"refund:{rma.number}").state == OutboxState.DEAD
    assert Alert.objects.filter(key=f"return_refund_failed:{rma.number}", role="finance").exists()


# --- Alipay ------------------------------------------------------------------------------------


def _pem_private(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _public_b64(key) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


@pytest.fixture(scope="module")
def keys():
    return {
        name: rsa.generate_private_key(public_exponent=65537, key_size=2048) for name in ("app", "alipay")
    }


@pytest.fixture
def alipay(settings, provider, keys):
    settings.ALIPAY_APP_ID = "2021000000000001"
    settings.ALIPAY_APP_PRIVATE_KEY = _pem_private(keys["app"])
    settings.ALIPAY_PUBLIC_KEY = _public_b64(keys["alipay"])
    settings.ALIPAY_GATEWAY_URL = f"{provider.base_url}/gateway.do"
    provider.alipay_key = keys["alipay"]
    return provider


def test_an_alipay_payment_is_refunded_with_a_signed_trade_refund(
    order, alipay, keys, django_capture_on_commit_callbacks
):
    paid_by(order, "alipay", "2026030122001400001")
    alipay.answer(
        "/gateway.do",
        200,
        {
            "code": "10000",
            "msg": "Success",
            "trade_no": "2026030122001400001",
            "fund_change": "Y",
            "refund_fee": "54.73",
        },
    )

    with django_capture_on_commit_callbacks(execute=True):
        rma = receive_and_inspect(request_return(order, (1, 1)), {1: {"intact": 1}})

    [call] = alipay.requests
    params = call["body"]
    assert params["method"] == "alipay.trade.refund" and params["sign_type"] == "RSA2"
    # the app's public key verifies what was sent (raises if not)
    keys["app"].public_key().verify(
        base64.b64decode(params["sign"]),
        alipay_request_content(params).encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    assert '"refund_amount":"54.73"' in params["biz_content"]
    assert f'"out_request_no":"{rma.number}"' in params["biz_content"]
    assert ReturnRefund.objects.get(rma=rma).state == RefundState.SUCCEEDED


def test_an_alipay_answer_with_a_forged_signature_is_not_believed(
    order, alipay, keys, django_capture_on_commit_callbacks
):
    paid_by(order, "alipay", "2026030122001400002")
    alipay.alipay_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # not Alipay's key
    alipay.answer("/gateway.do", 200, {"code": "10000", "msg": "Success"})

    with django_capture_on_commit_callbacks(execute=True):
        rma = receive_and_inspect(request_return(order, (1, 1)), {1: {"intact": 1}})

    assert ReturnRefund.objects.get(rma=rma).state == RefundState.PENDING
    message = OutboxMessage.objects.get(idempotency_key=f"refund:{rma.number}")
    assert message.state == OutboxState.DEAD and "signature" in message.last_error


def test_an_alipay_business_refusal_fails_the_refund(order, alipay, django_capture_on_commit_callbacks):
    paid_by(order, "alipay", "2026030122001400003")
    alipay.answer(
        "/gateway.do",
        200,
        {
            "code": "40004",
            "msg": "Business Failed",
            "sub_code": "ACQ.TRADE_NOT_EXIST",
            "sub_msg": "交易不存在",
        },
    )

    with django_capture_on_commit_callbacks(execute=True):
        rma = receive_and_inspect(request_return(order, (1, 1)), {1: {"intact": 1}})

    refund = ReturnRefund.objects.get(rma=rma)
    assert refund.state == RefundState.FAILED and "ACQ.TRADE_NOT_EXIST" in refund.error


# --- exactly once under concurrency ---------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_double_inspection_creates_the_refund_exactly_once():
    order = delivered_order()
    rma = logistics.rma_receive(rma=request_return(order, (1, 2)), warehouse=WarehouseFactory())
    grades = {rma.lines.get().pk: {"intact": 2}}
    barrier = threading.Barrier(2)
    outcomes = []

    def inspect():
        try:
            barrier.wait()
            inspection.rma_inspect(rma=rma.pk, grades=grades)
            outcomes.append("inspected")
        except Exception as exc:  # noqa: BLE001 - the loser's refusal is the point
            outcomes.append(type(exc).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=inspect) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["TransitionRefused", "inspected"]
    assert ReturnRefund.objects.filter(rma=rma).count() == 1
    assert refunded(order) == [D("-109.46")]
    assert OutboxMessage.objects.filter(idempotency_key__startswith=f"refund:{rma.number}").count() <= 1
    assert movements(rma.number) == [("return", 2, 2)]
