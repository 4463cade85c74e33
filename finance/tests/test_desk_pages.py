"""Every finance screen of this slice: finance and managers get it, other roles get 403."""

import pytest

from core.roles import Role

pytestmark = pytest.mark.django_db
PAGES = [
    "/finance/imports/",
    "/finance/statements/",
    "/finance/reconciliation/",
    "/finance/reconciliation/candidates/",
    "/finance/reports/daily-sales/",
    "/finance/reports/receivables/",
    "/finance/reports/refund-differences/",
    "/finance/vouchers/",
]
POSTS = [
    "/finance/reconciliation/start/",
    "/finance/vouchers/prepare/",
    "/finance/imports/1/confirm/",
    "/finance/reconciliation/items/1/resolve/",
    "/finance/reconciliation/candidates/1/",
]


@pytest.mark.parametrize("role", [Role.FINANCE, Role.MANAGER])
def test_finance_and_managers_see_every_finance_screen(client, make_user, role):
    client.force_login(make_user(role))
    for url in PAGES:
        response = client.get(url)
        assert response.status_code == 200, url
    assert 'href="/finance/reconciliation/"' in client.get("/finance/imports/").text


@pytest.mark.parametrize("role", [Role.CUSTOMER_SERVICE, Role.WAREHOUSE, None])
def test_other_roles_are_refused(client, make_user, role):
    client.force_login(make_user(role))
    for url in PAGES:
        assert client.get(url).status_code == 403, url
    for url in POSTS:
        assert client.post(url, {"month": "2026-01", "reason": "x"}).status_code == 403, url
    assert client.get("/finance/reports/daily-sales/?format=csv").status_code == 403


def test_signed_out_users_are_sent_to_sign_in(client):
    response = client.get("/finance/reconciliation/")
    assert response.status_code == 302 and "login" in response.url


def test_report_filters_refuse_bad_input_without_crashing(client, finance_user):
    client.force_login(finance_user)
    assert client.get("/finance/reports/daily-sales/", {"start": "2026-13-40", "end": "x"}).status_code == 200
    assert (
        client.get(
            "/finance/reports/refund-differences/", {"start": "2026-02-01", "end": "2026-01-01"}
        ).status_code
        == 200
    )
    assert client.get("/finance/statements/", {"month": "20x6-1"}).status_code == 200
    response = client.post("/finance/reconciliation/start/", {"month": "2026-13"}, follow=True)
    assert "Use YYYY-MM" in response.text


def test_filtering_statement_lines_by_month_creates_no_period(client, finance_user):
    from finance.models import AccountingPeriod

    client.force_login(finance_user)
    before = AccountingPeriod.objects.count()
    for params in ({"month": "2999-12"}, {"month": "2999-12", "format": "csv"}):
        assert client.get("/finance/statements/", params).status_code == 200
    assert AccountingPeriod.objects.count() == before
    assert not AccountingPeriod.objects.filter(year=2999, month=12).exists()
