"""UnionPay 全渠道 acp 5.1.0 back notifications: signed the way UnionPay signs them with a chain made
in the test (finance/tests/fake_unionpay.py), and a notification UnionPay's sandbox really signed,
checked against UnionPay's published test root and middle certificates."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from finance.models import CallbackStatus, Payment, PaymentCallback
from finance.providers import MalformedCallback
from finance.providers.unionpay import PROVIDER, sign_content, signer_name
from finance.tests import fake_unionpay as fake
from orders.models import OrderStatus

pytestmark = pytest.mark.django_db

URL = "/finance/webhooks/unionpay/"


@pytest.fixture(scope="session")
def chain():
    return fake.make_chain()


@pytest.fixture
def unionpay(settings, chain):
    """UnionPay configured for our merchant with the test chain's root and middle."""
    fake.configure(settings, chain)
    return chain


@pytest.fixture
def post(client):
    def post(fields):
        return client.post(URL, fake.form(fields), content_type="application/x-www-form-urlencoded")

    return post


def paid(order, chain, **changes):
    return fake.signed(fake.notification(order.number, **changes), chain.signer)


def assert_refused(response, text):
    assert response.status_code == 401
    callback = PaymentCallback.objects.get()
    assert (callback.status, callback.body, callback.event_id) == (CallbackStatus.REJECTED, "", None)
    assert text in callback.error
    assert Payment.objects.count() == 0


# --- accepted --------------------------------------------------------------------------------------


def test_a_signed_notification_pays_the_order_and_is_answered_ok(post, unionpay, pending_order):
    response = post(paid(pending_order, unionpay))

    assert response.status_code == 200 and response.content == b"ok"
    payment = Payment.objects.get()
    assert (payment.provider, payment.transaction_id) == ("unionpay", "782603011322060674028")
    assert (payment.amount, payment.currency, payment.method) == (Decimal("212.80"), "CNY", "unionpay:000201")
    # txnTime is Beijing time: five seconds past midnight on March 1 is still February in UTC
    assert payment.paid_at == datetime(2026, 2, 28, 16, 0, 5, tzinfo=UTC)
    assert payment.raw["traceNo"] == "067402" and "signature" not in payment.raw
    callback = PaymentCallback.objects.get()
    assert (callback.status, callback.event_id, callback.event_type) == (
        CallbackStatus.PROCESSED,
        "782603011322060674028",
        "01.01:00",
    )
    assert "signPubKeyCert=" in callback.body  # kept as received
    pending_order.refresh_from_db()
    assert pending_order.status == OrderStatus.PAID


def test_the_same_notification_again_is_answered_ok_and_ignored(post, unionpay, pending_order):
    fields = paid(pending_order, unionpay)

    first, again = post(fields), post(fields)  # UnionPay's retry: the same signed notification

    assert (first.status_code, again.status_code) == (200, 200) and again.content == b"ok"
    assert Payment.objects.count() == 1 and PaymentCallback.objects.count() == 1


def test_partial_success_a6_is_a_payment_and_a_failed_response_is_not(post, unionpay, pending_order):
    declined = post(paid(pending_order, unionpay, respCode="05", queryId="782603011322060674001"))
    partial = post(paid(pending_order, unionpay, respCode="A6", queryId="782603011322060674002"))

    assert (declined.status_code, partial.status_code) == (200, 200)
    assert Payment.objects.get().transaction_id == "782603011322060674002"
    assert PaymentCallback.objects.get(event_id="782603011322060674001").error == "respCode 05"


def test_a_refund_notification_is_stored_and_ignored(post, unionpay, pending_order):
    response = post(paid(pending_order, unionpay, txnType="04", txnSubType="00"))

    assert response.status_code == 200
    assert PaymentCallback.objects.get().status == CallbackStatus.IGNORED
    assert Payment.objects.count() == 0


@pytest.mark.parametrize(
    ("fen", "yuan"), [("1", "0.01"), ("10", "0.10"), ("21280", "212.80"), ("999999999999", "9999999999.99")]
)
def test_txn_amt_in_fen_becomes_the_exact_amount_in_yuan(fen, yuan, settings):
    settings.UNIONPAY_MER_ID = fake.MER_ID
    body = fake.form(fake.notification("SO1", txnAmt=fen))

    payment = PROVIDER.parse({}, body).payment

    assert payment["amount"] == Decimal(yuan) and payment["currency"] == "CNY"


@pytest.mark.parametrize("amount", ["212.80", "-1", "1e3", " 100", "", "1000000000000"])
def test_an_amount_not_in_whole_fen_is_malformed(amount, settings):
    settings.UNIONPAY_MER_ID = fake.MER_ID

    with pytest.raises(MalformedCallback, match="txnAmt"):
        PROVIDER.parse({}, fake.form(fake.notification("SO1", txnAmt=amount)))


def test_a_currency_other_than_156_is_not_guessed(settings):
    settings.UNIONPAY_MER_ID = fake.MER_ID

    with pytest.raises(MalformedCallback, match="currencyCode"):
        PROVIDER.parse({}, fake.form(fake.notification("SO1", currencyCode="840")))


# --- refused before anything but an audit line is stored -----------------------------------------


def test_a_forged_signature_is_refused(post, unionpay, pending_order):
    stranger = fake.new_key()

    response = post(fake.signed(fake.notification(pending_order.number), unionpay.signer, key=stranger))

    assert_refused(response, "Bad signature")


def test_a_field_changed_after_signing_is_refused(post, unionpay, pending_order):
    fields = paid(pending_order, unionpay, txnAmt="1")
    fields["txnAmt"] = "21280"

    assert_refused(post(fields), "Bad signature")


def test_a_certificate_not_chaining_to_the_configured_root_is_refused(post, unionpay, pending_order):
    # The same names as UnionPay's chain, other keys: only the signatures tell them apart.
    impostor = fake.make_chain()

    response = post(fake.signed(fake.notification(pending_order.number), impostor.signer))

    assert_refused(response, "not issued by the configured middle certificate")


def test_a_middle_certificate_from_another_root_is_refused(post, settings, unionpay, pending_order):
    impostor = fake.make_chain()
    settings.UNIONPAY_MIDDLE_CERT = impostor.middle.pem  # configured by mistake: still not our root

    response = post(fake.signed(fake.notification(pending_order.number), impostor.signer))

    assert_refused(response, "not issued by the configured root")


def test_a_certificate_the_root_signed_directly_is_refused(post, unionpay, pending_order):
    skipped = fake.issue(fake.name(fake.SIGNER_CN), issuer=unionpay.root, ca=False)

    assert_refused(post(fake.signed(fake.notification(pending_order.number), skipped)), "middle")


@pytest.mark.parametrize(
    "common_name",
    [
        "041@8310000000083040@某某支付有限公司@00016495",
        "中国银联股份有限公司",
        "00040000:SIGN",
        "041@1@中国银联@2",
    ],
)
def test_a_certificate_not_issued_to_unionpay_is_refused(common_name, post, unionpay, pending_order):
    other = fake.make_signer(unionpay.middle, common_name=common_name)

    assert_refused(post(fake.signed(fake.notification(pending_order.number), other)), "(CN)")


def test_an_expired_certificate_is_refused(post, unionpay, pending_order):
    now = datetime.now(UTC)
    expired = fake.make_signer(
        unionpay.middle, not_before=now - timedelta(days=400), not_after=now - timedelta(days=1)
    )

    assert_refused(post(fake.signed(fake.notification(pending_order.number), expired)), "has expired")


def test_a_certificate_not_valid_yet_is_refused(post, unionpay, pending_order):
    now = datetime.now(UTC)
    early = fake.make_signer(
        unionpay.middle, not_before=now + timedelta(days=1), not_after=now + timedelta(days=9)
    )

    assert_refused(post(fake.signed(fake.notification(pending_order.number), early)), "not valid yet")


def test_an_expired_middle_certificate_is_refused(post, settings, unionpay, pending_order):
    now = datetime.now(UTC)
    old_middle = fake.issue(
        fake.name("CFCA TEST OCA1"),
        issuer=unionpay.root,
        ca=True,
        not_before=now - timedelta(days=400),
        not_after=now - timedelta(days=1),
    )
    settings.UNIONPAY_MIDDLE_CERT = old_middle.pem
    signer = fake.make_signer(old_middle)

    assert_refused(
        post(fake.signed(fake.notification(pending_order.number), signer)), "middle certificate has expired"
    )


@pytest.mark.parametrize(
    ("field", "value", "refusal"),
    [("version", "5.0.0", "Only version 5.1.0"), ("signMethod", "11", "Only signMethod 01")],
)
def test_other_versions_and_sign_methods_are_refused(field, value, refusal, post, unionpay, pending_order):
    assert_refused(post(paid(pending_order, unionpay, **{field: value})), refusal)


def test_nothing_is_accepted_while_unionpay_is_not_configured(post, settings, unionpay, pending_order):
    settings.UNIONPAY_ROOT_CERT = ""

    assert_refused(post(paid(pending_order, unionpay)), "not configured")


# --- signed, stored, not applicable ----------------------------------------------------------------


def test_a_payment_to_another_merchant_is_kept_as_failed(post, unionpay, pending_order):
    response = post(paid(pending_order, unionpay, merId="898111448161364"))

    assert response.status_code == 400 and response.content != b"ok"
    callback = PaymentCallback.objects.get()
    assert callback.status == CallbackStatus.FAILED and "merId" in callback.error
    assert Payment.objects.count() == 0


def test_an_unknown_order_is_not_answered_ok_so_unionpay_notifies_again(post, unionpay):
    response = post(fake.signed(fake.notification("SO20260301999999"), unionpay.signer))

    assert response.status_code >= 400 and response.content != b"ok"
    assert PaymentCallback.objects.get().status == CallbackStatus.FAILED


# --- UnionPay's own sandbox notification ------------------------------------------------------------


@pytest.fixture
def unionpay_test_chain(settings):
    settings.UNIONPAY_MER_ID = "777290058167151"
    settings.UNIONPAY_ROOT_CERT = (fake.PAYLOADS / "acp_test_root.pem").read_text()
    settings.UNIONPAY_MIDDLE_CERT = (fake.PAYLOADS / "acp_test_middle.pem").read_text()


def test_a_notification_signed_by_unionpays_sandbox_verifies_with_its_test_chain(unionpay_test_chain):
    body = fake.form(fake.sandbox_notification())
    sent = datetime(2022, 9, 8, 5, 22, 6, tzinfo=UTC).timestamp()

    assert PROVIDER.verify({}, body, now=sent) == ""
    event = PROVIDER.parse({}, body)
    assert (event.event_id, event.payment["order_number"]) == (
        "782209081322060674028",
        "yansongda20220908132206",
    )
    assert event.payment["amount"] == Decimal("0.01")


def test_the_sandbox_notification_is_refused_once_its_certificate_expired(unionpay_test_chain):
    body = fake.form(fake.sandbox_notification())

    assert "has expired" in PROVIDER.verify({}, body, now=datetime(2025, 8, 1, tzinfo=UTC).timestamp())


def test_the_sandbox_notification_changed_by_one_field_is_refused(unionpay_test_chain):
    fields = {**fake.sandbox_notification(), "txnAmt": "100"}
    sent = datetime(2022, 9, 8, 5, 22, 6, tzinfo=UTC).timestamp()

    assert PROVIDER.verify({}, fake.form(fields), now=sent) == "Bad signature."


def test_the_sandbox_signer_names_unionpay_in_its_cn():
    from cryptography import x509

    pem = fake.sandbox_notification()["signPubKeyCert"]

    assert signer_name(x509.load_pem_x509_certificate(pem.encode())) == "中国银联股份有限公司"


def test_the_signed_string_sorts_every_field_but_the_signature():
    assert (
        sign_content({"txnAmt": "1", "signature": "x", "accNo": "", "merId": "7"})
        == "accNo=&merId=7&txnAmt=1"
    )
    assert sign_content({"txnAmt": "1", "accNo": ""}, skip_empty=True) == "txnAmt=1"
