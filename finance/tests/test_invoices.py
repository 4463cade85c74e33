"""E-invoices (数电发票) through Nuonuo: requested on an order, issued through the outbox against a
fake Nuonuo on localhost that checks X-Nuonuo-Sign and answers with the published samples
(finance/tests/payloads/invoices/SOURCES.md), polled until issued, reversed (红字) when refunds go
through — never for more than was paid net of refunds."""

import random
from decimal import Decimal

import pytest
from django.urls import reverse

from core.errors import DomainError
from core.models import Alert, OutboxMessage
from core.outbox import outbox_deliver
from finance.invoices import services
from finance.invoices.amounts import RefundShare, SoldLine, rate_amounts
from finance.invoices.models import InvoiceRequest, InvoiceReversal, InvoiceState, ReversalState
from finance.invoices.nuonuo import NuonuoProvider, sign
from finance.invoices.provider import BlueInvoice
from finance.tests import fake_nuonuo as fake
from returns.models import RefundState
from returns.refunds.lifecycle import refund_confirm_manual
from returns.tests.conftest import delivered_order, receive_and_inspect, request_return

pytestmark = pytest.mark.django_db

D = Decimal
LINES = [
    {"sku": "SKU-1", "quantity": 2, "unit_price": "59.90", "discount": "5.00", "tax_rate": "0.13"},
    {"sku": "SKU-2", "quantity": 1, "unit_price": "100.00", "tax_rate": "0.06"},
]


@pytest.fixture
def nuonuo(settings):
    with fake.running(settings) as stub:
        yield stub


@pytest.fixture
def order():
    # 114.80 at 13 %, 100.00 at 6 %, 8.00 shipping (follows the 13 % goods): 222.80 paid.
    return delivered_order(lines=LINES)


def deliver(kind: str) -> None:
    for message in OutboxMessage.objects.filter(kind=kind, state="pending").order_by("pk"):
        outbox_deliver(message.pk)


def request_invoice(order, actor, **fields) -> InvoiceRequest:
    fields = {
        "buyer_kind": "b2c",
        "invoice_type": "normal",
        "buyer_title": "王芳",
        "buyer_email": "fang@example.com",
        **fields,
    }
    return services.invoice_request_create(order=order, actor=actor, **fields)


def issued(order, actor, nuonuo) -> InvoiceRequest:
    request = request_invoice(order, actor)
    deliver(services.ISSUE_KIND)
    nuonuo.pending_polls = 0
    services.invoices_poll()
    request.refresh_from_db()
    assert request.state == InvoiceState.ISSUED
    return request


def test_the_signature_matches_the_official_sdks_published_vector():
    # jellyfrank/nuonuo-sdk docs/api-contract.md: computed with Nuonuo's official Python sample.
    assert (
        sign(
            secret="secret",
            app_key="app",
            senid="a" * 32,
            nonce="12345678",
            timestamp="1700000000",
            body='{"name":"中文"}',
            path="/open/v1/services",
        )
        == "4BzcKzrcoqxPis0W/W3X2ae0uIo="
    )


def test_an_invoice_is_issued_then_polled_until_nuonuo_has_issued_it(order, finance_user, nuonuo):
    request = request_invoice(order, finance_user)
    assert (request.state, request.amount) == (InvoiceState.REQUESTED, D("222.80"))
    assert [
        (line.tax_rate, line.amount, line.net_amount, line.tax_amount) for line in request.lines.all()
    ] == [
        (D("0.06"), D("100.00"), D("94.34"), D("5.66")),
        (D("0.13"), D("122.80"), D("108.67"), D("14.13")),
    ]

    deliver(services.ISSUE_KIND)

    [call] = nuonuo.calls
    order_sent = call["content"]["order"]
    assert call["method"] == "nuonuo.ElectronInvoice.requestBillingNew" and nuonuo.bad_signatures == 0
    assert order_sent["orderNo"] == request.number and order_sent["invoiceType"] == "1"
    assert (order_sent["invoiceLine"], order_sent["pushMode"], order_sent["email"]) == (
        "pc",
        "0",
        "fang@example.com",
    )
    assert [
        (d["taxRate"], d["taxIncludedAmount"], d["taxExcludedAmount"], d["tax"])
        for d in order_sent["invoiceDetail"]
    ] == [("0.06", "100.00", "94.34", "5.66"), ("0.13", "122.80", "108.67", "14.13")]
    request.refresh_from_db()
    assert (request.state, request.provider_serial) == (InvoiceState.ISSUING, "20160108165823395151")

    assert services.invoices_poll() == 0  # 开票中
    request.refresh_from_db()
    assert request.state == InvoiceState.ISSUING

    assert services.invoices_poll() == 1  # 开票完成
    request.refresh_from_db()
    assert request.state == InvoiceState.ISSUED
    assert request.invoice_number == "22310000000000000001"
    assert request.pdf_url.endswith(".pdf") and request.ofd_url.endswith(".ofd")
    assert request.issued_at is not None
    assert not Alert.objects.filter(kind="invoice_amount_differs").exists()


def test_a_refusal_fails_the_invoice_and_a_retry_issues_it_exactly_once(order, finance_user, nuonuo):
    nuonuo.refuse_next = ["error_answer.json"]
    request = request_invoice(order, finance_user)

    deliver(services.ISSUE_KIND)

    request.refresh_from_db()
    assert request.state == InvoiceState.FAILED
    assert request.error == "Nuonuo E9338: 该企业无权限调用API开票"
    assert Alert.objects.get(key=f"invoice_failed:{request.number}").role == "finance"
    assert request.number not in nuonuo.invoices

    services.invoice_retry(request=request, actor=finance_user)
    deliver(services.ISSUE_KIND)
    deliver(services.ISSUE_KIND)  # nothing left to send: the retry went out once
    nuonuo.pending_polls = 0
    services.invoices_poll()

    request.refresh_from_db()
    assert request.state == InvoiceState.ISSUED and request.attempts == 1
    issues = [c for c in nuonuo.calls if c["method"].endswith("requestBillingNew")]
    assert len(issues) == 2  # the refused one and the retry
    assert nuonuo.issued_count(request.number) == 1
    assert Alert.objects.get(key=f"invoice_failed:{request.number}").resolved_at is not None
    with pytest.raises(DomainError):
        services.invoice_retry(request=request, actor=finance_user)


def test_a_submission_whose_answer_was_lost_is_not_issued_twice(order, finance_user, nuonuo):
    request = request_invoice(order, finance_user)
    # The first submission reached Nuonuo, its answer never came back to us.
    lines = [(line.tax_rate, line.amount, line.net_amount, line.tax_amount) for line in request.lines.all()]
    from finance.invoices.amounts import RateLine

    NuonuoProvider().issue(
        BlueInvoice(
            number=request.number,
            buyer_title=request.buyer_title,
            buyer_tax_id="",
            buyer_email="",
            buyer_phone="",
            special=False,
            lines=[RateLine(*line) for line in lines],
            ordered_at=order.placed_at,
        )
    )

    deliver(services.ISSUE_KIND)  # the outbox sends it again: E9106, already submitted

    request.refresh_from_db()
    assert request.state == InvoiceState.ISSUING and request.error == ""
    nuonuo.pending_polls = 0
    services.invoices_poll()
    request.refresh_from_db()
    assert request.state == InvoiceState.ISSUED
    assert nuonuo.issued_count(request.number) == 1


def test_a_wrong_secret_is_refused_by_nuonuo(order, finance_user, nuonuo, settings):
    settings.NUONUO_APP_SECRET = "not-the-secret"
    request = request_invoice(order, finance_user)

    deliver(services.ISSUE_KIND)

    assert nuonuo.bad_signatures == 1 and not nuonuo.invoices
    request.refresh_from_db()
    assert request.state == InvoiceState.REQUESTED  # a 403 is a refusal: dead-lettered, not issued
    assert OutboxMessage.objects.get(kind=services.ISSUE_KIND).state == "dead"


def test_a_full_refund_reverses_the_whole_invoice(order, finance_user, nuonuo):
    request = issued(order, finance_user, nuonuo)

    services.invoice_refund_recorded(
        order_id=order.pk,
        key="refund:T1",
        amount=D("222.80"),
        lines={1: D("114.80"), 2: D("100.00")},
        shipping=D("8.00"),
    )

    request.refresh_from_db()
    reversal = request.reversals.get()
    assert (request.state, reversal.full, reversal.amount, reversal.lines) == (
        InvoiceState.REVERSING,
        True,
        D("222.80"),
        [],
    )
    deliver(services.REVERSE_KIND)
    [confirm] = nuonuo.red_confirms
    assert (
        confirm["blueElecInvoiceNumber"] == request.invoice_number and confirm["orderNo"] == reversal.number
    )
    assert (confirm["redReason"], confirm["applySource"], "detail" in confirm) == ("1", "0", False)
    reversal.refresh_from_db()
    assert (reversal.state, reversal.provider_reference) == (ReversalState.SUBMITTED, "13123123123123123")

    services.invoices_poll()

    request.refresh_from_db()
    reversal.refresh_from_db()
    assert (request.state, reversal.state) == (InvoiceState.REVERSED, ReversalState.DONE)
    assert reversal.invoice_number and reversal.pdf_url.endswith(".pdf")


def test_a_partial_refund_reverses_what_was_given_back_per_rate(order, finance_user, nuonuo):
    request = issued(order, finance_user, nuonuo)

    # One unit of SKU-1 back: 54.90 at 13 %.
    services.invoice_refund_recorded(
        order_id=order.pk, key="refund:T2", amount=D("54.90"), lines={1: D("54.90")}, shipping=D("0.00")
    )
    services.invoice_refund_recorded(  # told twice: remembered once
        order_id=order.pk, key="refund:T2", amount=D("54.90"), lines={1: D("54.90")}, shipping=D("0.00")
    )

    reversal = InvoiceReversal.objects.get(request=request)
    assert (reversal.full, reversal.amount) == (False, D("54.90"))
    assert reversal.lines == [
        {"index": 2, "tax_rate": "0.13", "amount": "-54.90", "net_amount": "-48.58", "tax_amount": "-6.32"}
    ]
    deliver(services.REVERSE_KIND)
    [confirm] = nuonuo.red_confirms
    assert confirm["detail"] == [
        {
            "blueDetailIndex": "2",
            "goodsName": "商品",
            "taxRate": "0.13",
            "taxExcludedAmount": "-48.58",
            "taxAmount": "-6.32",
            "goodsCode": "1090511030000000000",
        }
    ]
    services.invoices_poll()
    request.refresh_from_db()
    assert request.state == InvoiceState.ISSUED  # what is left stays invoiced: 167.90
    assert services._current_lines(request) == {1: D("100.00"), 2: D("67.90")}


def test_a_refund_through_returns_reverses_the_invoice(finance_user, nuonuo):
    order = delivered_order(lines=LINES)
    request = issued(order, finance_user, nuonuo)
    rma = receive_and_inspect(request_return(order, (2, 1), reason="damaged"), {2: {"damaged": 1}})

    refund_confirm_manual(refund=rma.refund, reference="BANK-1", actor=finance_user)

    assert rma.refund.state in (RefundState.MANUAL, RefundState.SUCCEEDED)
    reversal = InvoiceReversal.objects.get(request=request)
    # SKU-2 (100.00 at 6 %) and the 8.00 shipping (at the 13 % of the goods it came with).
    assert reversal.amount == D("108.00") and not reversal.full
    assert sorted((line["index"], line["amount"]) for line in reversal.lines) == [
        (1, "-100.00"),
        (2, "-8.00"),
    ]


def test_an_invoice_requested_after_a_refund_leaves_it_out(order, finance_user, nuonuo):
    services.invoice_refund_recorded(
        order_id=order.pk, key="refund:T3", amount=D("100.00"), lines={2: D("100.00")}, shipping=D("0.00")
    )

    request = request_invoice(order, finance_user)

    assert request.amount == D("122.80")
    assert [line.tax_rate for line in request.lines.all()] == [D("0.13")]


def test_requests_are_checked(order, finance_user, nuonuo):
    with pytest.raises(DomainError):
        request_invoice(order, finance_user, buyer_kind="b2b", buyer_title="诺诺网")  # no tax id
    with pytest.raises(DomainError):
        request_invoice(order, finance_user, invoice_type="special")  # a person
    request_invoice(
        order, finance_user, buyer_kind="b2b", buyer_title="诺诺网", buyer_tax_id="339901999999198"
    )
    with pytest.raises(DomainError):
        request_invoice(order, finance_user)  # one per order


def test_a_line_without_a_tax_rate_is_not_guessed(finance_user, nuonuo, settings):
    settings.INVOICE_DEFAULT_TAX_RATE = ""
    order = delivered_order()  # the platform stated no rates
    with pytest.raises(DomainError):
        request_invoice(order, finance_user)
    settings.INVOICE_DEFAULT_TAX_RATE = "0.13"
    assert request_invoice(order, finance_user).amount == order.total


@pytest.mark.parametrize("seed", range(300))
def test_never_more_than_paid_net_of_refunds(seed):
    rng = random.Random(seed)
    rates = [D("0.13"), D("0.09"), D("0.06"), D("0.03"), D("0")]
    sold = [
        SoldLine(line_no=no, tax_rate=rng.choice(rates), paid=D(rng.randint(0, 50_000)) / 100)
        for no in range(1, rng.randint(1, 6) + 1)
    ]
    shipping = D(rng.randint(0, 2_000)) / 100
    computed = sum((line.paid for line in sold), D(0)) + shipping
    paid = (
        computed - D(rng.randint(0, 1_000)) / 100 if rng.random() < 0.3 else computed
    )  # a stated lower paid
    paid = max(paid, D("0.00"))
    refunds = []
    left = paid
    for _ in range(rng.randint(0, 3)):
        line = rng.choice(sold)
        amount = min(D(rng.randint(0, int(line.paid * 100))) / 100, left)
        if amount <= 0:
            continue
        refunds.append(RefundShare(amount=amount, lines={line.line_no: amount}, shipping=D("0.00")))
        left -= amount

    result = rate_amounts(sold, shipping=shipping, paid=paid, refunds=refunds)

    total = sum((line.amount for line in result), D(0))
    assert total <= paid - sum((r.amount for r in refunds), D(0))
    for line in result:
        assert line.amount > 0 and line.amount == line.amount.quantize(D("0.01"))
        assert line.net_amount + line.tax_amount == line.amount
        assert abs(line.net_amount * line.tax_rate - line.tax_amount) <= D("0.06")  # Nuonuo's E9131
    assert len({line.tax_rate for line in result}) == len(result)
    if not refunds and paid == computed:
        assert total == computed  # nothing cut when nothing was given back


def test_the_desk_requests_an_invoice_from_the_order_page(client, order, finance_user, nuonuo):
    client.force_login(finance_user)
    page = client.get(reverse("orders:detail", args=[order.number]))
    assert page.status_code == 200
    assert reverse("finance:invoice-request", args=[order.pk]) in page.content.decode()

    answer = client.post(
        reverse("finance:invoice-request", args=[order.pk]),
        {
            "buyer_kind": "b2b",
            "invoice_type": "special",
            "buyer_title": "浙江诺诺网络科技有限公司",
            "buyer_tax_id": "91330106ma2aynwd8m",
        },
    )

    assert answer.status_code == 302
    request = InvoiceRequest.objects.get(order=order)
    assert (request.buyer_tax_id, request.invoice_type, request.requested_by) == (
        "91330106MA2AYNWD8M",
        "special",
        finance_user,
    )


def test_the_queue_shows_a_failed_invoice_and_retries_it(client, order, finance_user, nuonuo):
    nuonuo.refuse_next = ["error_answer.json"]
    request = request_invoice(order, finance_user)
    deliver(services.ISSUE_KIND)
    client.force_login(finance_user)

    page = client.get(reverse("finance:invoices")).content.decode()
    assert request.number in page and "该企业无权限调用API开票" in page

    client.post(reverse("finance:invoice-retry", args=[request.pk]))
    deliver(services.ISSUE_KIND)

    request.refresh_from_db()
    assert request.state == InvoiceState.ISSUING and nuonuo.issued_count(request.number) == 1
