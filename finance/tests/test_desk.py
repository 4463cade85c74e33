import json
from datetime import UTC, datetime

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory

from finance.models import AccountingPeriod, CallbackStatus, PaymentCallback, PeriodState
from finance.services import payment_record
from finance.tests.conftest import STRIPE_SECRET, stripe_headers, stripe_intent_event
from orders.models import Order
from orders.tests.factories import make_order

pytestmark = pytest.mark.django_db


def pay(order, transaction_id="T-DESK-1"):
    return payment_record(
        order_number=order.number,
        provider="api",
        transaction_id=transaction_id,
        amount=order.total,
        currency="CNY",
        paid_at=datetime(2026, 2, 3, tzinfo=UTC),
    )[0]


@pytest.fixture
def finance_client(client, finance_user):
    client.force_login(finance_user)
    return client


def test_payments_are_searched_by_order_number_or_transaction_id(finance_client):
    first, second = make_order(), make_order()
    pay(first, "T-A")
    pay(second, "T-B")

    by_order = finance_client.get("/finance/payments/", {"search": first.number})
    by_transaction = finance_client.get("/finance/payments/", {"search": "T-B"})

    assert by_order.status_code == 200
    assert "T-A" in by_order.text and "T-B" not in by_order.text
    assert second.number in by_transaction.text and first.number not in by_transaction.text


def test_the_nav_shows_finance_screens_to_finance_only(finance_client, client, warehouse_user):
    assert 'href="/finance/payments/"' in finance_client.get("/finance/payments/").text

    client.force_login(warehouse_user)
    assert client.get("/finance/payments/").status_code == 403
    assert client.get("/finance/periods/").status_code == 403


def test_an_ended_period_is_closed_from_the_periods_screen(finance_client, finance_user):
    page = finance_client.get("/finance/periods/")
    assert page.status_code == 200 and "Close period" in page.text

    response = finance_client.post("/finance/periods/close/", {"year": 2026, "month": 1}, follow=True)

    assert "2026-01 closed" in response.text
    period = AccountingPeriod.objects.get(year=2026, month=1)
    assert (period.state, period.closed_by) == (PeriodState.CLOSED, finance_user)


def test_closing_an_unfinished_period_shows_why(finance_client):
    response = finance_client.post("/finance/periods/close/", {"year": 2999, "month": 12}, follow=True)

    assert "has not ended yet" in response.text
    assert not AccountingPeriod.objects.filter(state=PeriodState.CLOSED).exists()


def test_a_failed_callback_is_replayed_from_the_callbacks_screen(finance_client, settings):
    settings.STRIPE_WEBHOOK_SECRET = STRIPE_SECRET
    order = make_order()
    body = json.dumps(stripe_intent_event("SO20260101999997")).encode()
    finance_client.post(
        "/finance/webhooks/stripe/",
        body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=stripe_headers(body)["Stripe-Signature"],
    )
    callback = PaymentCallback.objects.get()
    assert "Replay" in finance_client.get("/finance/callbacks/", {"status": "failed"}).text

    again = finance_client.post(f"/finance/callbacks/{callback.pk}/replay/", follow=True)
    assert "failed again" in again.text

    Order.objects.filter(pk=order.pk).update(number="SO20260101999997")
    done = finance_client.post(f"/finance/callbacks/{callback.pk}/replay/", follow=True)
    assert "replayed" in done.text
    callback.refresh_from_db()
    assert callback.status == CallbackStatus.PROCESSED


def test_the_order_finance_panel_shows_payments_and_the_breakdown(finance_user):
    order = make_order()
    pay(order)
    request = RequestFactory().get("/")
    request.user = finance_user

    html = render_to_string("finance/_order_finance.html", {"order": order}, request=request)

    assert "T-DESK-1" in html
    assert "Goods" in html and "219.80" in html and "Billed" in html and "212.80" in html


def test_the_order_finance_panel_is_hidden_without_finance_permissions(warehouse_user):
    order = make_order()
    request = RequestFactory().get("/")
    request.user = warehouse_user

    assert render_to_string("finance/_order_finance.html", {"order": order}, request=request).strip() == ""


def test_the_admin_shows_payments_read_only_and_closes_periods(admin_client):
    pay(make_order())
    period = AccountingPeriod.objects.create(year=2026, month=1)

    assert admin_client.get("/admin/finance/payment/").status_code == 200
    assert admin_client.get("/admin/finance/payment/add/").status_code == 403
    admin_client.post(
        "/admin/finance/accountingperiod/",
        {"action": "close_periods", "_selected_action": [period.pk]},
    )

    assert AccountingPeriod.objects.get(pk=period.pk).state == PeriodState.CLOSED
