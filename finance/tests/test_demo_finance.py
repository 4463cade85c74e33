"""The demo gives finance real work (issue #19): payments for every paid order but those on
account, the last full month's Alipay statement imported and reconciled to exactly the planted
differences, and a sample statement on the import page that imports back cleanly."""

from collections import Counter
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from finance.demo import seed_finance_demo
from finance.imports.layouts import ALIPAY_ACCOUNT
from finance.imports.models import ImportState, StatementLine
from finance.imports.samples import alipay_sample_statement
from finance.models import Payment, PaymentProvider, RevenueKind, RevenueLine
from finance.reconciliation.models import DifferenceClass as D
from finance.reconciliation.models import ReconciliationItem, ReconciliationRun, RunState
from finance.tests.statements import import_file
from orders.models import Order

pytestmark = pytest.mark.django_db


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


SEED_ORDERS = 400  # enough Tmall orders in last month for every planted difference


@pytest.fixture
def demo():
    call_command("seed_demo", orders=SEED_ORDERS, stdout=StringIO())


def _finance_client(client):
    client.force_login(get_user_model().objects.get(username="finance"))
    return client


def test_paid_orders_have_their_payments_except_b2b_on_account(demo):
    paid = Order.objects.filter(paid_at__isnull=False)
    b2b = [o.pk for o in paid if "b2b" in (o.tags or [])]
    expected = paid.exclude(pk__in=b2b)
    assert expected.count() > 100
    assert set(Payment.objects.values_list("order_id", flat=True)) == set(
        expected.values_list("pk", flat=True)
    )
    assert not Payment.objects.filter(order_id__in=b2b).exists()
    for payment in Payment.objects.select_related("order", "order__channel")[:200]:
        assert payment.paid_at == payment.order.paid_at
        assert payment.currency == payment.order.currency
        assert payment.amount == (payment.order.paid_amount or payment.order.total)
    providers = set(Payment.objects.values_list("order__channel__code", "provider").distinct())
    assert ("tmall-flagship", PaymentProvider.ALIPAY) in providers
    assert ("shopify-global", PaymentProvider.STRIPE) in providers
    # as payment_record writes them: a fee line per payment with a fee, a note on the timeline
    with_fee = Payment.objects.exclude(fee=0)
    fees = RevenueLine.objects.filter(kind=RevenueKind.FEE)
    assert fees.count() == with_fee.count() > 0
    assert {(f.payment_id, -f.amount) for f in fees} == set(with_fee.values_list("pk", "fee"))
    some = Payment.objects.order_by("pk").first()
    assert some.order.events.filter(payload__transaction_id=some.transaction_id).exists()


def test_reconciliation_shows_exactly_the_planted_differences(demo, client):
    run = ReconciliationRun.objects.get()
    assert run.state == RunState.DONE
    items = ReconciliationItem.objects.filter(run=run)
    kinds = Counter(items.values_list("difference", flat=True))
    planted = {
        D.AMOUNT_MISMATCH,
        D.MISSING_SETTLEMENT,
        D.FEE_NOT_ATTRIBUTED,
        D.REFUND_NOT_REFLECTED,
        D.PERIOD_MISMATCH,
        D.UNMATCHED_LINE,
        D.MISSING_PAYMENT,
    }
    assert kinds == dict.fromkeys(planted, 1)
    assert run.counts == {str(kind): 1 for kind in planted}
    assert run.payment_count > 20 and run.line_count > 60  # real numbers, not an empty month
    # the statement went through the real import
    assert set(StatementLine.objects.values_list("batch__state", flat=True)) == {ImportState.IMPORTED}
    # the finance desk opens on them
    finance = _finance_client(client)
    listed = finance.get(reverse("finance:reconciliation"))
    assert listed.status_code == 200
    assert str(D.MISSING_SETTLEMENT.label) in listed.content.decode()
    matrix = finance.get(reverse("finance:reconciliation-run", args=[run.pk]))
    assert matrix.status_code == 200
    home = finance.get(reverse("finance:home"), follow=True)
    assert home.status_code == 200
    latest = Payment.objects.order_by("-paid_at", "-id").first()
    assert latest.transaction_id in home.content.decode()


def test_seeding_again_adds_no_second_payment():
    call_command("seed_demo", orders=60, stdout=StringIO())
    count = Payment.objects.count()
    demo = seed_finance_demo()
    assert demo.payments == 0 and Payment.objects.count() == count


def test_sample_statement_downloads_and_imports_back_cleanly(demo, client, capture):
    response = _finance_client(client).get(reverse("finance:import-sample", args=["alipay-account"]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    data = b"".join(response.streaming_content) if response.streaming else response.content
    text = data.decode("gb18030")
    assert all(header in text for header in ALIPAY_ACCOUNT.mapping)
    # its rows are this database's latest Alipay payments
    latest = Payment.objects.filter(provider=PaymentProvider.ALIPAY).order_by("-paid_at", "-id").first()
    assert latest.transaction_id in text
    batch = import_file(capture, data, "sample.csv", layout=ALIPAY_ACCOUNT.key)
    assert batch.state == ImportState.IMPORTED and batch.error_count == 0
    assert batch.imported_count >= 10


def test_sample_statement_without_payments_has_invented_rows_that_import(capture):
    data = alipay_sample_statement()
    batch = import_file(capture, data, "sample.csv", layout=ALIPAY_ACCOUNT.key)
    assert batch.state == ImportState.IMPORTED and batch.imported_count == 6
    again = import_file(capture, alipay_sample_statement(), "sample.csv", layout=ALIPAY_ACCOUNT.key)
    assert again.state == ImportState.IMPORTED  # a new download has new entry ids


def test_import_page_offers_the_sample(client):
    call_command("seed_demo", orders=30, stdout=StringIO())
    page = _finance_client(client).get(reverse("finance:imports"))
    assert reverse("finance:import-sample", args=["alipay-account"]) in page.content.decode()
