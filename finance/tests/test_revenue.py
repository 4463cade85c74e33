from datetime import UTC, date, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from core.errors import DomainError, TransitionRefused
from finance import reports
from finance.models import BILLED_KINDS, PaymentStatus, RevenueKind, RevenueLine
from finance.periods import period_close
from finance.revenue import RevenueConflict, revenue_backfill, revenue_record_order, revenue_record_refund
from finance.selectors import order_finance
from finance.services import payment_record
from orders.models import Order
from orders.tests.factories import ChannelFactory, make_order

pytestmark = pytest.mark.django_db
K = RevenueKind


def paid_order(**overrides):
    return make_order(paid=True, **overrides)


def by_kind(order):
    return {line.kind: line.amount for line in order.revenue_lines.all()}


def test_a_paid_orders_lines_break_its_amounts_down_by_kind():
    order = paid_order()

    revenue_record_order(order=order)

    assert by_kind(order) == {
        K.GOODS: Decimal("219.80"),
        K.MERCHANT_DISCOUNT: Decimal("-15.00"),  # 5.00 line discount + 10.00 order discount
        K.SHIPPING: Decimal("8.00"),
        K.COMMISSION: Decimal("-3.20"),
    }


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"shipping_fee": "0.00", "discount": "0.00", "platform_commission": "0.00"},
        {
            "lines": [{"sku": "SKU-3", "quantity": 7, "unit_price": "0.33", "discount": "0.31"}],
            "discount": "1.00",
            "shipping_fee": "12.50",
        },
    ],
)
def test_the_billed_lines_add_up_to_the_order_total(overrides):
    order = paid_order(**overrides)

    lines = revenue_record_order(order=order)

    assert sum(line.amount for line in lines if line.kind in BILLED_KINDS) == order.total
    assert sum(line.amount for line in lines) == order.total - order.platform_commission
    assert all(line.currency == order.currency for line in lines)


def test_recording_twice_changes_nothing():
    order = paid_order()
    first = {line.pk for line in revenue_record_order(order=order)}

    second = {line.pk for line in revenue_record_order(order=order)}

    assert first == second and RevenueLine.objects.count() == 4


def test_an_unpaid_order_has_no_revenue():
    order = make_order()

    assert revenue_record_order(order=order) == []


def test_the_payment_path_writes_the_lines_at_the_order_paid_time():
    order = make_order()

    payment_record(
        order_number=order.number,
        provider="api",
        transaction_id="P-1",
        amount=order.total,
        currency="CNY",
        paid_at=datetime(2026, 2, 3, tzinfo=UTC),
    )

    order.refresh_from_db()
    assert set(by_kind(order)) == {K.GOODS, K.MERCHANT_DISCOUNT, K.SHIPPING, K.COMMISSION}
    assert {line.booked_at for line in order.revenue_lines.all()} == {order.paid_at}


def test_the_backfill_covers_orders_paid_on_the_platform_once():
    paid = [paid_order(), paid_order()]
    make_order()  # unpaid: nothing

    assert revenue_backfill() == 2
    assert revenue_backfill() == 0
    assert all(order.revenue_lines.count() == 4 for order in paid)


def test_the_backfill_command_reports_what_it_did():
    paid_order()
    out = StringIO()

    call_command("finance_backfill_revenue", "--since", "2020-01-01", stdout=out)

    assert "1 order(s)" in out.getvalue()


def test_lines_in_a_closed_period_stay_and_a_change_is_booked_as_an_adjustment(finance_user):
    order = paid_order(paid_at="2026-01-20T10:00:00+08:00", placed_at="2026-01-20T09:00:00+08:00")
    revenue_record_order(order=order)
    period_close(year=2026, month=1, actor=finance_user, now=datetime(2026, 2, 2, tzinfo=UTC))
    Order.objects.filter(pk=order.pk).update(shipping_fee=Decimal("10.00"))  # a late correction

    revenue_record_order(order=order)

    shipping = list(order.revenue_lines.filter(kind=K.SHIPPING).order_by("id"))
    assert str(shipping[0].period) == "2026-01" and shipping[0].amount == Decimal("8.00")
    assert shipping[1].amount == Decimal("2.00") and shipping[1].period.is_open and shipping[1].period_note
    assert order.revenue_lines.filter(kind=K.GOODS).count() == 1  # unchanged kinds are left alone
    ids = set(order.revenue_lines.values_list("pk", flat=True))
    revenue_record_order(order=order)
    assert set(order.revenue_lines.values_list("pk", flat=True)) == ids  # and it is stable


def test_a_refund_is_a_negative_line_booked_once_per_reference():
    order = paid_order()

    line, created = revenue_record_refund(order=order, amount=Decimal("20.00"), reference="RMA-1")
    again, created_again = revenue_record_refund(order=order, amount=Decimal("20.00"), reference="RMA-1")

    assert (created, created_again) == (True, False)
    assert line.pk == again.pk and line.amount == Decimal("-20.00") and line.kind == K.REFUND
    with pytest.raises(RevenueConflict):
        revenue_record_refund(order=order, amount=Decimal("25.00"), reference="RMA-1")


def test_a_refund_against_a_payment_moves_its_refunded_amount():
    order = make_order()
    payment, _ = payment_record(
        order_number=order.number,
        provider="api",
        transaction_id="P-R",
        amount=order.total,
        currency="CNY",
        paid_at=datetime(2026, 2, 3, tzinfo=UTC),
    )

    revenue_record_refund(order=order, amount=Decimal("12.80"), reference="RMA-2", payment=payment)
    payment.refresh_from_db()
    assert (payment.status, payment.refunded_amount) == (PaymentStatus.PARTIALLY_REFUNDED, Decimal("12.80"))

    revenue_record_refund(order=order, amount=Decimal("200.00"), reference="RMA-3", payment=payment)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED

    with pytest.raises(TransitionRefused):
        revenue_record_refund(order=order, amount=Decimal("0.01"), reference="RMA-4", payment=payment)


@pytest.mark.parametrize(
    ("amount", "reference", "field"),
    [(Decimal("0"), "R", "amount"), (Decimal("1.001"), "R", "amount"), (Decimal("1"), " ", "reference")],
)
def test_a_bad_refund_names_the_field(amount, reference, field):
    with pytest.raises(DomainError) as error:
        revenue_record_refund(order=paid_order(), amount=amount, reference=reference)
    assert error.value.field == field


def test_daily_sales_sums_per_channel_and_business_day():
    ChannelFactory(code="shop-b", name="B")
    first = paid_order(paid_at="2026-02-01T00:30:00+08:00", placed_at="2026-02-01T00:10:00+08:00")
    second = paid_order(paid_at="2026-01-31T23:30:00+08:00", placed_at="2026-01-31T23:10:00+08:00")
    third = paid_order(
        channel="shop-b", paid_at="2026-02-01T10:00:00+08:00", placed_at="2026-02-01T09:00:00+08:00"
    )
    revenue_backfill()

    report = reports.daily_sales(start=date(2026, 1, 31), end=date(2026, 2, 1))
    rows = {(str(row[0]), row[1]): row for row in report.rows}  # (day, channel): [..., billed, net]

    # 23:30 and 00:30 Beijing time are different business days although 1 h apart
    assert rows[("2026-01-31", "shop-cn")][-2] == second.total
    assert rows[("2026-02-01", "shop-cn")][-2] == first.total
    assert rows[("2026-02-01", "shop-cn")][4] == 1  # orders
    assert rows[("2026-02-01", "shop-b")][-1] == third.total - third.platform_commission
    only_b = reports.daily_sales(start=date(2026, 1, 31), end=date(2026, 2, 1), channel="shop-b")
    assert {row[1] for row in only_b.rows} == {"shop-b"}


def test_the_order_finance_panel_totals():
    order = make_order()
    payment_record(
        order_number=order.number,
        provider="api",
        transaction_id="P-F",
        amount=Decimal("100.00"),
        currency="CNY",
        paid_at=datetime(2026, 2, 3, tzinfo=UTC),
    )
    order.refresh_from_db()

    panel = order_finance(order)

    assert (panel.received, panel.outstanding) == (Decimal("100.00"), order.total - Decimal("100.00"))
    assert panel.totals == []  # not paid in full: no revenue recognised yet


@pytest.mark.django_db
def test_lines_edited_after_payment_rebuild_the_revenue_once(manager):
    from orders.edits import LineChange, order_edit_lines

    order = paid_order()
    revenue_backfill()
    assert sum(by_kind(order)[kind] for kind in BILLED_KINDS if kind in by_kind(order)) == order.total
    first = order.lines.get(line_no=1)

    order_edit_lines(
        order=order,
        changes=[LineChange(first.pk, unit_price=Decimal("49.90"), seen={"unit_price": first.unit_price})],
        actor=manager,
        reason="price agreed with the buyer",
    )
    order.refresh_from_db()
    assert revenue_backfill() == 1
    assert revenue_backfill() == 0  # rebuilt once: the next run finds nothing to do
    lines = by_kind(order)
    assert lines[RevenueKind.GOODS] == order.goods_amount == Decimal("199.80")
    assert sum(lines[kind] for kind in BILLED_KINDS if kind in lines) == order.total
