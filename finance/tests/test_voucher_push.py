"""Issue #20 part 3: approved voucher batches pushed by API to Kingdee (K3 Cloud WebAPI) and
Yonyou (YonBIP), through the outbox, one voucher created per voucher whatever the retries, the
system's voucher number stored on the batch. The fakes (fake_accounting.py) check the login and
answer with the published samples of payloads/vouchers/ (SOURCES.md)."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from core.errors import DomainError, NotPermitted, TransitionRefused
from core.models import OutboxMessage, OutboxState
from core.outbox import outbox_deliver
from core.roles import Role
from finance.periods import period_month
from finance.services import payment_record
from finance.tests import fake_accounting
from finance.tests.fake_accounting import (
    KINGDEE_LOGIN,
    YONYOU_APP_KEY,
    YONYOU_APP_SECRET,
    FakeKingdee,
    FakeYonyou,
)
from finance.tests.test_vouchers import CODES
from finance.vouchers.models import AccountingSystem, PushState, VoucherLayout
from finance.vouchers.push import KIND, reference, voucher_push
from finance.vouchers.services import voucher_approve, voucher_export, voucher_prepare, voucher_reject
from orders.tests.factories import make_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def layout():
    return VoucherLayout.objects.create(
        name="Ledger",
        columns=[["凭证日期", "date"], ["科目", "account"], ["借方", "debit"], ["贷方", "credit"]],
        account_codes=CODES,
    )


@pytest.fixture
def month():
    """Two paid orders this month (one voucher: one day, one channel, CNY); (year, month)."""
    for txn in ("P-1", "P-2"):
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


@pytest.fixture
def kingdee():
    with fake_accounting.running(FakeKingdee()) as fake:
        yield fake


@pytest.fixture
def yonyou():
    with fake_accounting.running(FakeYonyou()) as fake:
        yield fake


def kingdee_system(fake, **changes) -> AccountingSystem:
    fields = {
        "name": "Kingdee 星空",
        "provider": "kingdee",
        "base_url": f"{fake.base_url}/k3cloud/",
        "credentials": dict(KINGDEE_LOGIN),
        "options": {"account_book": "100", "voucher_group": "PRE001"},
        **changes,
    }
    return AccountingSystem.objects.create(**fields)


def yonyou_system(fake, **changes) -> AccountingSystem:
    fields = {
        "name": "YonBIP",
        "provider": "yonyou",
        "base_url": f"{fake.base_url}/iuap-api-gateway",
        "auth_url": f"{fake.base_url}/iuap-api-auth",
        "credentials": {"app_key": YONYOU_APP_KEY, "app_secret": YONYOU_APP_SECRET},
        "options": {"accbook_code": "BOOK01", "voucher_type_code": "01", "maker_mobile": "13800000000"},
        **changes,
    }
    return AccountingSystem.objects.create(**fields)


def approved_batch(layout, month, system, finance_user, approver):
    layout.accounting_system = system
    layout.save()
    batch = voucher_prepare(year=month[0], month=month[1], layout_id=layout.pk, actor=finance_user)
    voucher_approve(batch_id=batch.pk, actor=approver)
    return batch


def push(batch, actor, capture):
    """The desk button's service, with the outbox delivering on commit (Celery runs eagerly)."""
    with capture(execute=True):
        voucher_push(batch_id=batch.pk, actor=actor)
    batch.refresh_from_db()
    return batch


def deliver_again(batch, hours=1):
    message = OutboxMessage.objects.get(idempotency_key=f"{KIND}:{batch.pk}:{batch.push_attempt}")
    outbox_deliver(message.pk, now=timezone.now() + timedelta(hours=hours))
    batch.refresh_from_db()
    message.refresh_from_db()
    return message


def test_kingdee_push_saves_one_gl_voucher_per_voucher_and_stores_its_number(
    kingdee,
    layout,
    month,
    finance_user,
    second_finance_user,
    django_capture_on_commit_callbacks,
):
    batch = approved_batch(layout, month, kingdee_system(kingdee), finance_user, second_finance_user)

    batch = push(batch, finance_user, django_capture_on_commit_callbacks)

    assert batch.push_state == PushState.PUSHED and batch.pushed_at is not None
    assert batch.push_results == {"1": {"id": "100029", "number": "FKSQ000004"}}
    [voucher] = kingdee.vouchers
    model = voucher["model"]
    assert (model["FAccountBookID"], model["FVOUCHERGROUPID"]) == ({"FNumber": "100"}, {"FNumber": "PRE001"})
    lines = {(e["FACCOUNTID"]["FNumber"], e["FDEBIT"], e["FCREDIT"]) for e in model["FEntity"]}
    expected = {(e.account, format(e.debit, "f"), format(e.credit, "f")) for e in batch.entries.all()}
    assert lines == expected and ("1122", "419.20", "0.00") in lines
    assert {e["FBUSNO"] for e in model["FEntity"]} == {reference(batch.pk, 1)}
    assert {e["FCURRENCYID"]["FNumber"] for e in model["FEntity"]} == {"PRE001"}
    # logged in once; the lookup and the save carried the session cookie the login set
    paths = [r["path"].rsplit(".", 3)[-3] for r in kingdee.requests]
    assert paths == ["ValidateUser", "ExecuteBillQuery", "Save"]
    assert all("kdservice-sessionid=fake-session-1" in r["cookie"] for r in kingdee.requests[1:])
    # the file export stays
    header, rows = voucher_export(batch=batch, actor=finance_user)
    assert len(list(rows)) == batch.entry_count


def test_kingdee_refuses_an_unknown_account_and_the_push_fails_with_its_message(
    kingdee,
    layout,
    month,
    finance_user,
    second_finance_user,
    django_capture_on_commit_callbacks,
):
    system = kingdee_system(kingdee, account_map={"1122": "1122.99"})
    batch = approved_batch(layout, month, system, finance_user, second_finance_user)

    batch = push(batch, finance_user, django_capture_on_commit_callbacks)

    assert batch.push_state == PushState.FAILED
    assert "FACCOUNTID: fake: entry" in batch.push_error and "1122.99 does not exist" in batch.push_error
    assert batch.push_results == {} and kingdee.vouchers == []
    message = OutboxMessage.objects.get(kind=KIND)
    assert message.state == OutboxState.DEAD  # a refusal is not retried by itself

    # finance corrects the account code and pushes again: a new attempt, one voucher
    system.account_map = {}
    system.save()
    batch = push(batch, finance_user, django_capture_on_commit_callbacks)
    assert (batch.push_state, batch.push_attempt, batch.push_error) == (PushState.PUSHED, 2, "")
    assert len(kingdee.vouchers) == 1


def test_kingdee_5xx_is_retried_and_the_retry_saves_exactly_one_voucher(
    kingdee,
    layout,
    month,
    finance_user,
    second_finance_user,
    django_capture_on_commit_callbacks,
):
    batch = approved_batch(layout, month, kingdee_system(kingdee), finance_user, second_finance_user)
    kingdee.faults.append(("Save", "http_503"))

    batch = push(batch, finance_user, django_capture_on_commit_callbacks)
    assert batch.push_state == PushState.PENDING and kingdee.vouchers == []
    message = OutboxMessage.objects.get(kind=KIND)
    assert message.state == OutboxState.PENDING and "503" in message.last_error

    message = deliver_again(batch)

    assert message.state == OutboxState.DELIVERED
    assert batch.push_state == PushState.PUSHED and batch.push_results["1"]["number"] == "FKSQ000004"
    assert len(kingdee.vouchers) == 1
    saves = [r for r in kingdee.requests if r["path"].endswith("Save.common.kdsvc")]
    assert len(saves) == 2  # the refused one and the one that went through


def test_kingdee_a_lost_answer_is_found_by_its_reference_not_saved_twice(
    kingdee,
    layout,
    month,
    finance_user,
    second_finance_user,
    django_capture_on_commit_callbacks,
):
    batch = approved_batch(layout, month, kingdee_system(kingdee), finance_user, second_finance_user)
    kingdee.faults.append(("Save", "lost"))  # saved, but the answer never arrives

    batch = push(batch, finance_user, django_capture_on_commit_callbacks)
    assert batch.push_state == PushState.PENDING and len(kingdee.vouchers) == 1

    deliver_again(batch)
    deliver_again(batch, hours=2)  # at-least-once: a delivery after success changes nothing

    assert batch.push_state == PushState.PUSHED
    assert batch.push_results == {"1": {"id": "100029", "number": "FKSQ000004"}}
    assert len(kingdee.vouchers) == 1
    assert sum(r["path"].endswith("Save.common.kdsvc") for r in kingdee.requests) == 1


def test_yonyou_push_signs_the_token_request_and_stores_the_bill_code(
    yonyou,
    layout,
    month,
    finance_user,
    second_finance_user,
    django_capture_on_commit_callbacks,
):
    batch = approved_batch(layout, month, yonyou_system(yonyou), finance_user, second_finance_user)

    batch = push(batch, finance_user, django_capture_on_commit_callbacks)

    assert batch.push_state == PushState.PUSHED
    assert batch.push_results == {"1": {"id": "2A4556F6-1AD0-47BA-9378-572B9B570000", "number": "14"}}
    token, add = yonyou.requests
    assert token["method"] == "GET" and token["query"]["appKey"] == YONYOU_APP_KEY
    assert add["query"]["access_token"] == "b8743244c5b44b8fb1e52a55be7e2f"
    [voucher] = yonyou.vouchers
    request = voucher["request"]
    period = batch.period
    assert request["period"] == f"{period.year:04d}-{period.month:02d}"
    assert (request["accbookCode"], request["voucherTypeCode"], request["businessId"]) == (
        "BOOK01",
        "01",
        reference(batch.pk, 1),
    )
    receivable = next(b for b in request["bodies"] if b["accsubjectCode"] == "1122")
    assert receivable["debitOrg"] == receivable["debitOriginal"] == 419.2 and "creditOrg" not in receivable
    goods = next(b for b in request["bodies"] if b["accsubjectCode"] == "6001")
    assert goods["creditOrg"] == 439.6 and "debitOrg" not in goods
    debit = sum(Decimal(str(b.get("debitOrg", 0))) for b in request["bodies"])
    assert debit == sum(Decimal(str(b.get("creditOrg", 0))) for b in request["bodies"])


def test_yonyou_refusal_fails_the_push_with_yonyous_message(
    yonyou,
    layout,
    month,
    finance_user,
    second_finance_user,
    django_capture_on_commit_callbacks,
):
    system = yonyou_system(yonyou, account_map={"6051": "6051.404"})
    batch = approved_batch(layout, month, system, finance_user, second_finance_user)

    batch = push(batch, finance_user, django_capture_on_commit_callbacks)

    assert batch.push_state == PushState.FAILED
    assert batch.push_error == "Yonyou: 404 fake: account 6051.404 does not exist"
    assert yonyou.vouchers == []


def test_yonyou_wrong_secret_is_refused_by_the_token_signature_check(
    yonyou,
    layout,
    month,
    finance_user,
    second_finance_user,
    django_capture_on_commit_callbacks,
):
    system = yonyou_system(yonyou, credentials={"app_key": YONYOU_APP_KEY, "app_secret": "not-the-secret"})
    batch = approved_batch(layout, month, system, finance_user, second_finance_user)

    batch = push(batch, finance_user, django_capture_on_commit_callbacks)

    assert batch.push_state == PushState.FAILED and "401" in batch.push_error
    assert [r["path"] for r in yonyou.requests] == [
        "/iuap-api-auth/open-auth/selfAppAuth/base/v1/getAccessToken"
    ]


def test_yonyou_5xx_then_the_retry_saves_exactly_one_voucher_with_the_same_business_id(
    yonyou,
    layout,
    month,
    finance_user,
    second_finance_user,
    django_capture_on_commit_callbacks,
):
    batch = approved_batch(layout, month, yonyou_system(yonyou), finance_user, second_finance_user)
    yonyou.faults.append(("addVoucher", "http_503"))

    batch = push(batch, finance_user, django_capture_on_commit_callbacks)
    assert batch.push_state == PushState.PENDING and yonyou.vouchers == []

    deliver_again(batch)

    assert batch.push_state == PushState.PUSHED and batch.push_results["1"]["number"] == "14"
    assert len(yonyou.vouchers) == 1
    adds = [json.loads(r["body"]) for r in yonyou.requests if r["path"].endswith("addVoucher")]
    assert [a["businessId"] for a in adds] == [reference(batch.pk, 1)] * 2


def test_only_an_approved_batch_with_a_configured_system_is_pushed(
    kingdee,
    layout,
    month,
    finance_user,
    second_finance_user,
    make_user,
    django_capture_on_commit_callbacks,
):
    layout.accounting_system = kingdee_system(kingdee)
    layout.save()
    batch = voucher_prepare(year=month[0], month=month[1], layout_id=layout.pk, actor=finance_user)

    with pytest.raises(TransitionRefused, match="second finance user"):
        voucher_push(batch_id=batch.pk, actor=finance_user)
    voucher_reject(batch_id=batch.pk, actor=second_finance_user, note="wrong month")
    with pytest.raises(TransitionRefused):
        voucher_push(batch_id=batch.pk, actor=finance_user)

    other = voucher_prepare(year=month[0], month=month[1], layout_id=layout.pk, actor=finance_user)
    with pytest.raises(NotPermitted, match="you prepared this batch"):  # two-person rule unchanged
        voucher_approve(batch_id=other.pk, actor=finance_user)
    voucher_approve(batch_id=other.pk, actor=second_finance_user)
    with pytest.raises(NotPermitted):
        voucher_push(batch_id=other.pk, actor=make_user(Role.WAREHOUSE))
    layout.accounting_system = None
    layout.save()
    with pytest.raises(DomainError, match="no active accounting system"):
        voucher_push(batch_id=other.pk, actor=finance_user)

    assert OutboxMessage.objects.filter(kind=KIND).count() == 0 and kingdee.requests == []
    other.refresh_from_db()
    assert other.push_state == PushState.NOT_PUSHED


def test_the_desk_pushes_an_approved_batch_and_shows_the_number(
    client,
    kingdee,
    layout,
    month,
    finance_user,
    second_finance_user,
    django_capture_on_commit_callbacks,
):
    batch = approved_batch(layout, month, kingdee_system(kingdee), finance_user, second_finance_user)
    client.force_login(finance_user)
    detail = f"/finance/vouchers/{batch.pk}/"
    assert "Push to accounting" in client.get(detail).text

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(detail + "push/")

    assert response.url == detail
    page = client.get(detail).text
    assert "Pushed" in page and "FKSQ000004" in page and "Push to accounting" not in page
    assert client.get(detail + "download/?format=csv").status_code == 200  # the file stays


def test_a_batch_in_another_currency_than_the_book_is_refused_before_anything_is_sent(
    kingdee,
    layout,
    month,
    finance_user,
    second_finance_user,
    django_capture_on_commit_callbacks,
):
    system = kingdee_system(kingdee, base_currency="USD")
    batch = approved_batch(layout, month, system, finance_user, second_finance_user)

    batch = push(batch, finance_user, django_capture_on_commit_callbacks)

    assert batch.push_state == PushState.FAILED and "Only vouchers in USD" in batch.push_error
    assert kingdee.requests == []


def test_the_admin_keeps_the_login_encrypted_and_write_only(admin_client, kingdee):
    system = kingdee_system(kingdee)

    page = admin_client.get(f"/admin/finance/accountingsystem/{system.pk}/change/").text

    assert 'name="credentials_json"' in page and KINGDEE_LOGIN["password"] not in page
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM finance_accountingsystem WHERE id = %s", [system.pk])
        [stored] = cursor.fetchone()
    assert KINGDEE_LOGIN["password"] not in stored
    system.refresh_from_db()
    assert system.credentials == KINGDEE_LOGIN
