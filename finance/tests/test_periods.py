from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from core.errors import DomainError, NotPermitted, TransitionRefused
from finance.models import AccountingPeriod, PeriodState, RevenueKind
from finance.periods import period_close, period_for
from finance.services import payment_record
from orders.tests.factories import make_order

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")
AFTER_FEBRUARY = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "period"),
    [
        (datetime(2026, 1, 31, 23, 59, 59, tzinfo=SHANGHAI), "2026-01"),
        (datetime(2026, 2, 1, 0, 0, 0, tzinfo=SHANGHAI), "2026-02"),
        (datetime(2026, 1, 31, 15, 59, 59, tzinfo=UTC), "2026-01"),  # the same instants in UTC
        (datetime(2026, 1, 31, 16, 0, 0, tzinfo=UTC), "2026-02"),
        (datetime(2025, 12, 31, 23, 59, 59, tzinfo=SHANGHAI), "2025-12"),
        (datetime(2026, 1, 1, 0, 0, 0, tzinfo=SHANGHAI), "2026-01"),
    ],
)
def test_a_moment_belongs_to_its_business_time_zone_month(moment, period):
    assert str(period_for(moment)) == period


def test_the_boundaries_follow_the_configured_business_time_zone(settings):
    settings.BUSINESS_TIME_ZONE = "UTC"

    assert str(period_for(datetime(2026, 2, 1, 0, 0, 0, tzinfo=SHANGHAI))) == "2026-01"


def test_a_naive_moment_is_refused():
    with pytest.raises(ValueError):
        period_for(datetime(2026, 1, 31, 23, 59, 59))


def test_a_period_runs_from_midnight_on_the_first_in_business_time():
    period = period_for(datetime(2026, 2, 10, tzinfo=UTC))

    assert period.starts_at == datetime(2026, 1, 31, 16, 0, tzinfo=UTC)
    assert period.ends_at == datetime(2026, 2, 28, 16, 0, tzinfo=UTC)


def test_closing_an_ended_period_records_who_and_when(finance_user):
    period = period_close(year=2026, month=2, actor=finance_user, now=AFTER_FEBRUARY)

    assert (period.state, period.closed_by) == (PeriodState.CLOSED, finance_user)
    assert period.closed_at is not None


def test_a_period_cannot_be_closed_before_it_ends(finance_user):
    last_second = datetime(2026, 2, 28, 23, 59, 59, tzinfo=SHANGHAI)

    with pytest.raises(DomainError, match="not ended"):
        period_close(year=2026, month=2, actor=finance_user, now=last_second)
    assert (
        period_close(year=2026, month=2, actor=finance_user, now=last_second + timedelta(seconds=1)).state
        == "closed"
    )


def test_a_closed_period_is_not_closed_twice(finance_user):
    period_close(year=2026, month=2, actor=finance_user, now=AFTER_FEBRUARY)

    with pytest.raises(TransitionRefused):
        period_close(year=2026, month=2, actor=finance_user, now=AFTER_FEBRUARY)


def test_only_finance_closes_periods(agent):
    with pytest.raises(NotPermitted):
        period_close(year=2026, month=2, actor=agent, now=AFTER_FEBRUARY)
    assert not AccountingPeriod.objects.filter(state=PeriodState.CLOSED).exists()


def pay(order, transaction_id, paid_at, **kwargs):
    values = {"amount": order.total, "currency": "CNY", "provider": "api"} | kwargs
    return payment_record(
        order_number=order.number, transaction_id=transaction_id, paid_at=paid_at, **values
    )[0]


def test_an_item_dated_in_a_closed_period_is_booked_in_the_next_open_one_with_a_note(finance_user):
    period_close(year=2026, month=1, actor=finance_user, now=AFTER_FEBRUARY)
    order = make_order()

    payment = pay(order, "LATE-1", datetime(2026, 1, 31, 23, 59, 59, tzinfo=SHANGHAI))

    assert str(payment.period) == "2026-02"
    assert "2026-01" in payment.period_note and "2026-02" in payment.period_note
    assert payment.paid_at == datetime(2026, 1, 31, 15, 59, 59, tzinfo=UTC)  # the date itself is kept


def test_an_item_on_the_first_second_of_the_next_month_needs_no_note(finance_user):
    period_close(year=2026, month=1, actor=finance_user, now=AFTER_FEBRUARY)

    payment = pay(make_order(), "ON-TIME", datetime(2026, 2, 1, 0, 0, 0, tzinfo=SHANGHAI))

    assert (str(payment.period), payment.period_note) == ("2026-02", "")


def test_several_closed_periods_in_a_row_are_skipped(finance_user):
    for month in (1, 2):
        period_close(year=2026, month=month, actor=finance_user, now=AFTER_FEBRUARY)

    payment = pay(make_order(), "VERY-LATE", datetime(2026, 1, 15, tzinfo=SHANGHAI))

    assert str(payment.period) == "2026-03"


def test_revenue_of_an_order_paid_in_a_closed_period_goes_to_the_next_open_one(finance_user):
    period_close(year=2026, month=1, actor=finance_user, now=AFTER_FEBRUARY)
    order = make_order(paid=True, paid_at="2026-01-31T23:59:59+08:00", placed_at="2026-01-31T23:00:00+08:00")
    from finance.revenue import revenue_record_order

    lines = revenue_record_order(order=order)

    assert {str(line.period) for line in lines} == {"2026-02"}
    assert all(line.period_note for line in lines)
    assert sum(line.amount for line in lines if line.kind != RevenueKind.COMMISSION) == Decimal("212.80")
