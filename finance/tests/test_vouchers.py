from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from core.errors import DomainError, NotPermitted, TransitionRefused
from core.roles import Role
from finance.periods import period_month
from finance.services import payment_record
from finance.vouchers.models import VoucherLayout
from finance.vouchers.services import voucher_approve, voucher_export, voucher_prepare, voucher_reject
from orders.tests.factories import make_order

pytestmark = pytest.mark.django_db
CODES = {
    "goods": "6001",
    "shipping": "6051",
    "merchant_discount": "6001.01",
    "platform_discount": "6001.02",
    "commission": "6601.01",
    "fee": "6603.01",
    "refund": "6001.03",
    "receivable": "1122",
}


@pytest.fixture
def layout():
    return VoucherLayout.objects.create(
        name="Kingdee",
        columns=[
            ["凭证日期", "date"],
            ["凭证号", "voucher_no"],
            ["摘要", "summary"],
            ["科目", "account"],
            ["借方", "debit"],
            ["贷方", "credit"],
            ["币种", "currency"],
            ["来源", "text:Conduit"],
        ],
        account_codes=CODES,
        date_format="%Y/%m/%d",
        summary_template="{channel} {date} {kind}",
    )


@pytest.fixture
def month():
    """Two paid orders this month; (year, month) of their revenue."""
    for txn in ("V-1", "V-2"):
        order = make_order()
        payment_record(
            order_number=order.number,
            provider="api",
            transaction_id=txn,
            amount=order.total,
            currency="CNY",
            paid_at=timezone.now() - timedelta(minutes=5),
        )
    return period_month(timezone.now())


@pytest.fixture
def second_finance_user(make_user):
    return make_user(Role.FINANCE)


def test_vouchers_balance_and_follow_the_layout(layout, month, finance_user, second_finance_user):
    batch = voucher_prepare(year=month[0], month=month[1], layout_id=layout.pk, actor=finance_user)

    assert (batch.state, batch.voucher_count) == ("prepared", 1)
    totals = batch.totals["CNY"]
    assert totals["debit"] == totals["credit"]
    entries = list(batch.entries.all())
    # goods 2 × 219.80, merchant discount 2 × −15.00, shipping 2 × 8.00, commission 2 × −3.20
    assert {(e.account, e.debit, e.credit) for e in entries} == {
        ("6001", Decimal("0.00"), Decimal("439.60")),
        ("6001.01", Decimal("30.00"), Decimal("0.00")),
        ("6051", Decimal("0.00"), Decimal("16.00")),
        ("6601.01", Decimal("6.40"), Decimal("0.00")),
        ("1122", Decimal("419.20"), Decimal("0.00")),
    }

    voucher_approve(batch_id=batch.pk, actor=second_finance_user)
    batch.refresh_from_db()
    header, rows = voucher_export(batch=batch, actor=finance_user)
    rows = list(rows)
    assert header == ["凭证日期", "凭证号", "摘要", "科目", "借方", "贷方", "币种", "来源"]
    first = rows[0]
    assert first[0] == entries[0].date.strftime("%Y/%m/%d") and first[1] == 1 and first[-1] == "Conduit"
    assert first[2].startswith("shop-cn ")


def test_the_preparer_cannot_release_their_own_vouchers(layout, month, finance_user, second_finance_user):
    batch = voucher_prepare(year=month[0], month=month[1], layout_id=layout.pk, actor=finance_user)

    with pytest.raises(TransitionRefused, match="second finance user"):
        voucher_export(batch=batch, actor=finance_user)
    with pytest.raises(NotPermitted, match="you prepared this batch"):
        voucher_approve(batch_id=batch.pk, actor=finance_user)
    batch.refresh_from_db()
    assert batch.state == "prepared"

    voucher_approve(batch_id=batch.pk, actor=second_finance_user, note="checked against the ledger")
    batch.refresh_from_db()
    assert (batch.state, batch.decided_by, batch.decision_note) == (
        "approved",
        second_finance_user,
        "checked against the ledger",
    )
    with pytest.raises(TransitionRefused):
        voucher_reject(batch_id=batch.pk, actor=second_finance_user)


def test_a_rejected_batch_never_downloads(layout, month, finance_user, second_finance_user):
    batch = voucher_prepare(year=month[0], month=month[1], layout_id=layout.pk, actor=finance_user)
    voucher_reject(batch_id=batch.pk, actor=second_finance_user, note="wrong layout")
    batch.refresh_from_db()

    with pytest.raises(TransitionRefused):
        voucher_export(batch=batch, actor=second_finance_user)


def test_approving_needs_the_approval_permission(layout, month, finance_user, make_user):
    batch = voucher_prepare(year=month[0], month=month[1], layout_id=layout.pk, actor=finance_user)
    with pytest.raises(NotPermitted):
        voucher_approve(batch_id=batch.pk, actor=make_user(Role.CUSTOMER_SERVICE))
    with pytest.raises(NotPermitted):
        voucher_prepare(year=month[0], month=month[1], layout_id=layout.pk, actor=make_user(Role.WAREHOUSE))


def test_a_layout_without_an_account_code_for_a_kind_is_refused_naming_it(layout, month, finance_user):
    layout.account_codes = {k: v for k, v in CODES.items() if k != "shipping"}
    layout.save()

    with pytest.raises(DomainError, match="Shipping"):
        voucher_prepare(year=month[0], month=month[1], layout_id=layout.pk, actor=finance_user)


def test_a_period_without_revenue_has_no_vouchers(layout, finance_user):
    with pytest.raises(DomainError, match="No revenue"):
        voucher_prepare(year=2020, month=1, layout_id=layout.pk, actor=finance_user)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"columns": [["A", "colour"]]}, "columns"),
        ({"account_codes": {"goods": "6001"}}, "account_codes"),
        ({"date_format": "YYYY"}, "date_format"),
        ({"summary_template": "{customer}"}, "summary_template"),
    ],
)
def test_a_broken_voucher_layout_is_refused(layout, change, field):
    for key, value in change.items():
        setattr(layout, key, value)
    with pytest.raises(ValidationError) as refused:
        layout.clean()
    assert list(refused.value.message_dict) == [field]


def test_the_desk_releases_downloads_only_after_a_second_approval(
    client, layout, month, finance_user, second_finance_user
):
    client.force_login(finance_user)
    response = client.post(
        "/finance/vouchers/prepare/", {"month": f"{month[0]:04d}-{month[1]:02d}", "layout": layout.pk}
    )
    detail = response.url
    assert "Approve and release" not in client.get(detail).text  # not offered to the preparer
    blocked = client.get(detail + "download/?format=csv", follow=True)
    assert "only after a second finance user approves" in blocked.text
    client.post(detail + "approve/", {"note": ""})
    assert "prepared" in client.get(detail).text.lower()

    client.force_login(second_finance_user)
    assert "Approve and release" in client.get(detail).text
    client.post(detail + "approve/", {"note": "ok"})
    download = client.get(detail + "download/?format=csv")
    assert download.status_code == 200
    assert "凭证日期" in b"".join(download.streaming_content).decode("utf-8-sig")
