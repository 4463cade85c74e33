"""Dashboards, finance reports and their exports read from the read replica when one is configured
(settings.REPORTING_DATABASE, set by DATABASE_REPLICA_URL); without one they read the primary. The
test settings give a "replica" alias on the test database itself (Django's test mirror)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.roles import Role
from dashboard.models import CarrierDayRollup, OrderDayRollup
from dashboard.rollups import rollup_refresh
from finance.imports.models import StatementLine
from finance.models import RevenueLine
from finance.revenue import revenue_record_refund
from finance.services import payment_record
from inventory.models import StockBalance
from orders.tests.factories import make_order

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])

# Each page and the table its report reads (one the desk's own chrome never touches).
PAGES = [
    ("/finance/reports/daily-sales/", RevenueLine),
    ("/finance/reports/daily-sales/?format=csv", RevenueLine),
    ("/finance/reports/receivables/", StatementLine),
    ("/finance/reports/receivables/?report=payables&format=xlsx", RevenueLine),
    ("/finance/reports/refund-differences/", RevenueLine),
    ("/finance/reports/refund-differences/?format=csv", RevenueLine),
    ("/finance/statements/", StatementLine),
    ("/finance/statements/?format=xlsx", StatementLine),
    ("/dashboard/", OrderDayRollup),
    ("/dashboard/", CarrierDayRollup),
    ("/dashboard/", StockBalance),
    ("/dashboard/orders_per_day.csv", OrderDayRollup),
]


@pytest.fixture
def reports_data():
    order = make_order()
    payment = payment_record(
        order_number=order.number,
        provider="alipay",
        transaction_id="T-replica",
        amount=order.total,
        currency="CNY",
        paid_at=timezone.now() - timedelta(minutes=1),
    )[0]
    revenue_record_refund(order=order, amount=Decimal("5.00"), reference="RMA-R", payment=payment)
    rollup_refresh()


def fetch(client, url: str, table: str) -> tuple[int, int, int]:
    """(status, queries on the primary, queries on the replica) that read `table`, including
    those an export makes while it streams, after the view returned."""
    with (
        CaptureQueriesContext(connections["default"]) as primary,
        CaptureQueriesContext(connections["replica"]) as replica,
    ):
        response = client.get(url)
        if response.streaming:
            b"".join(response.streaming_content)
    reading = [query for query in primary if f'"{table}"' in query["sql"]]
    on_replica = [query for query in replica if f'"{table}"' in query["sql"]]
    return response.status_code, len(reading), len(on_replica)


@pytest.mark.parametrize(("url", "model"), PAGES)
def test_reports_and_exports_read_from_the_replica(client, make_user, reports_data, settings, url, model):
    settings.REPORTING_DATABASE = "replica"
    client.force_login(make_user(Role.MANAGER))

    status, on_primary, on_replica = fetch(client, url, model._meta.db_table)

    assert status == 200
    assert (on_primary, on_replica > 0) == (0, True)


@pytest.mark.parametrize(("url", "model"), PAGES[:1] + PAGES[8:9])
def test_without_a_replica_they_read_the_primary(client, make_user, reports_data, url, model):
    client.force_login(make_user(Role.MANAGER))

    status, on_primary, on_replica = fetch(client, url, model._meta.db_table)

    assert status == 200
    assert (on_primary > 0, on_replica) == (True, 0)


def test_the_replica_gives_the_same_report(make_user, reports_data, settings):
    from core.timezones import business_date
    from finance import reports

    today = business_date()
    primary = list(reports.daily_sales(start=today, end=today).rows)
    settings.REPORTING_DATABASE = "replica"
    replica = list(reports.daily_sales(start=today, end=today).rows)

    assert replica == primary and len(primary) == 1
