"""Reconciliation on a generated month (January 2026) with one planted difference of every
class next to clean orders of every kind: every planted difference is found, nothing else."""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from core.errors import DomainError, NotPermitted
from finance.imports.models import StatementLine
from finance.reconciliation.models import CandidateState, MemoCandidate, ReconciliationItem, ReconciliationRun
from finance.reconciliation.services import (
    memo_candidate_decide,
    reconciliation_execute,
    reconciliation_item_resolve,
    reconciliation_start,
)
from finance.revenue import revenue_record_refund
from finance.services import payment_record
from finance.tests.statements import ALIPAY, BANK, BANK_HEADER, csv_bytes, import_file
from orders.models import OrderEvent
from orders.tests.factories import make_order

pytestmark = pytest.mark.django_db
SH = ZoneInfo("Asia/Shanghai")
ALIPAY_HEADER = "账务流水号,业务流水号,商户订单号,商品名称,发生时间,对方账号,收入金额（+元）,支出金额（-元）,账户余额（元）,交易渠道,业务类型,备注"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


def at(day, hour=10, minute=0, second=0, month=1):
    return datetime(2026, month, day, hour, minute, second, tzinfo=SH)


def pay(order, provider, txn, *, amount=None, when=None, fee=Decimal("0.00")):
    return payment_record(
        order_number=order.number,
        provider=provider,
        transaction_id=txn,
        amount=order.total if amount is None else amount,
        currency="CNY",
        paid_at=when or at(10),
        fee=fee,
    )[0]


class Month:
    """Builds the statements line by line, then imports them through the real import path."""

    def __init__(self):
        self.alipay: list[str] = []
        self.bank: list[list] = [BANK_HEADER]

    def settle(self, ref, txn, kind, amount, when):
        income, expense = (amount, "0.00") if Decimal(amount) > 0 else ("0.00", str(-Decimal(amount)))
        entry = f"2026{len(self.alipay) + 1:020d}"
        self.alipay.append(
            f"{entry}\t,{txn}\t,{ref}\t,item\t,{when.strftime('%Y-%m-%d %H:%M:%S')},buyer\t,{income},{expense},0,支付宝,{kind},"
        )

    def sale(self, order, txn="", amount=None, when=None, commission=None, fee=None):
        when = when or at(15)
        self.settle(order.number, txn, "在线支付", str(order.total if amount is None else amount), when)
        if commission:
            self.settle(order.number, txn, "佣金", f"-{commission}", when)
        if fee:
            self.settle(order.number, txn, "收费", f"-{fee}", when)

    def bank_line(self, ref, amount, memo, day=20):
        self.bank.append([f"2026-01-{day:02d}", str(amount), "CNY", "某某公司", memo, ref])

    def load(self, capture):
        text = (
            "#支付宝账务明细查询\n"
            + ALIPAY_HEADER
            + "\n"
            + "\n".join(self.alipay)
            + "\n#导出时间：[2026年02月02日]\n"
        )
        import_file(capture, text.encode("gbk"), "alipay.csv", ALIPAY)
        import_file(capture, csv_bytes(self.bank), "bank.csv", BANK)


def run_january(capture, actor=None) -> ReconciliationRun:
    with capture(execute=True):
        run, created = reconciliation_start(year=2026, month=1, actor=actor)
    assert created
    run.refresh_from_db()
    assert run.state == "done", run.error
    return run


def found(run):
    return {
        (item.order.number if item.order else item.line.entry_id, item.difference, item.column)
        for item in run.items.select_related("order", "line")
    }


@pytest.fixture
def month(capture):
    """Clean orders of every kind plus one planted difference per class; returns what to expect."""
    m = Month()
    clean, expected = {}, set()
    commission = "3.20"  # every order here carries the canonical 3.20 commission

    # --- clean -----------------------------------------------------------------------------
    o = clean["alipay"] = make_order()
    pay(o, "alipay", "A-1", fee=Decimal("1.28"))
    m.sale(o, "A-1", commission=commission, fee="1.28")
    o = clean["api"] = make_order()
    pay(o, "api", "API-1")
    o = clean["platform"] = make_order(paid=True, placed_at=at(10).isoformat())
    m.sale(o, commission=commission)
    o = clean["transfer"] = make_order()
    pay(o, "bank_transfer", "BT-1001")
    m.bank_line("BT-1001", o.total, "货款")
    o = clean["refunded"] = make_order()
    payment = pay(o, "alipay", "A-2")
    revenue_record_refund(
        order=o, amount=Decimal("50.00"), reference="RMA-1", payment=payment, booked_at=at(18)
    )
    m.sale(o, "A-2", commission=commission)
    m.settle(o.number, "A-2", "交易退款", "-50.00", at(18))
    m.settle("", "W-1", "提现", "-5000.00", at(20))
    m.bank_line("BANK-PAYOUT", "5000.00", "支付宝提现 20881234567890120156", day=22)
    m.bank_line("BANK-RENT", "-300.00", "office rent")
    # a transfer the bank reports under its own reference, the order number typed into the memo
    o = clean["memo"] = make_order()
    pay(o, "bank_transfer", "TRF-XYZ")
    number = o.number
    m.bank_line("BANK-7", o.total, f"货款 {number[:2]} {number[2:6]} {number[6:10]}-{number[10:]} 张三")
    expected.add((o.number, "missing_bank_line", "bank"))  # until someone confirms the memo

    # --- planted ---------------------------------------------------------------------------
    o = make_order(paid=True, placed_at=at(12).isoformat())  # paid on the platform, no money anywhere
    expected.add((o.number, "missing_payment", "payment"))
    o = make_order()  # still unpaid here, but the statement shows the sale
    m.sale(o, commission=commission)
    expected.add((o.number, "missing_payment", "erp"))
    o = make_order()
    pay(o, "api", "API-PART", amount=Decimal("100.00"))  # a deposit: the order stays unpaid
    expected.add((o.number, "amount_mismatch", "payment"))
    o = make_order()
    pay(o, "alipay", "A-3")
    m.sale(o, "A-3", amount="200.00", commission=commission)
    expected.add((o.number, "amount_mismatch", "settlement"))
    o = make_order()
    pay(o, "alipay", "A-4")
    m.sale(o, "A-4", commission=commission)
    m.settle(o.number, "A-4", "交易退款", "-30.00", at(19))
    expected.add((o.number, "refund_not_reflected", "settlement"))
    o = make_order(paid=True, placed_at=at(11).isoformat())
    m.sale(o, commission="5.00")
    expected.add((o.number, "fee_not_attributed", "settlement"))
    o = make_order()
    pay(o, "alipay", "A-5", when=at(31, 23, 59, 59))
    m.sale(o, "A-5", when=at(1, 0, 0, 0, month=2), commission=commission)
    expected.add((o.number, "period_mismatch", "settlement"))
    o = make_order()
    pay(o, "alipay", "A-6")
    expected.add((o.number, "missing_settlement", "settlement"))
    o = make_order()
    pay(o, "bank_transfer", "BT-LOST")
    expected.add((o.number, "missing_bank_line", "bank"))
    m.settle("SO20990101999999", "A-7", "在线支付", "88.00", at(16))
    expected.add(("2026" + f"{len(m.alipay):020d}", "unmatched_line", "settlement"))
    m.settle("", "W-2", "提现", "-800.00", at(29))
    expected.add(("2026" + f"{len(m.alipay):020d}", "missing_bank_line", "bank"))
    m.bank_line("BANK-ODD", "66.00", "货款 see attached")
    expected.add(("BANK-ODD", "unmatched_line", "bank"))

    m.load(capture)
    return clean, expected


def test_every_planted_difference_is_found_and_nothing_else(month, capture, finance_user):
    clean, expected = month

    run = run_january(capture, finance_user)

    assert found(run) == expected
    assert sum(run.counts.values()) == len(expected) and run.counts["missing_bank_line"] == 3
    assert run.order_count == len(
        {subject for subject, _class, _column in expected if subject.startswith("SO")}
    )
    # the payout reached the bank two days later: matched by amount and date, not a difference
    payout_credit = StatementLine.objects.get(entry_id="BANK-PAYOUT")
    assert payout_credit.payout_of.kind == "payout" and payout_credit.matched_by == "payout"
    # only the memo with an order number became a candidate
    (candidate,) = MemoCandidate.objects.all()
    assert (candidate.order, candidate.line.entry_id) == (clean["memo"], "BANK-7")
    assert candidate.amount_matches and candidate.digits == clean["memo"].number[2:]


def test_a_difference_carries_its_trail(month, capture):
    run = run_january(capture)

    item = run.items.get(difference="amount_mismatch", column="settlement")
    assert item.expected == "212.80" and item.actual == "200.00"
    assert item.trail["cells"] == {"erp": "212.80", "payment": "212.80", "settlement": "200.00", "bank": None}
    assert [p["transaction_id"] for p in item.trail["payment"]] == ["A-3"]
    assert sorted(line["kind"] for line in item.trail["settlement"]) == ["commission", "sale"]
    period = run.items.get(difference="period_mismatch")
    assert (period.expected, period.actual) == ("2026-01", "2026-02")


def test_confirming_a_memo_candidate_matches_the_bank_line_and_audits_it(
    month, capture, finance_user, make_user
):
    clean, _expected = month
    run_january(capture)
    candidate = MemoCandidate.objects.get()

    with pytest.raises(NotPermitted):
        memo_candidate_decide(candidate_id=candidate.pk, accept=True, actor=make_user("warehouse"))
    memo_candidate_decide(
        candidate_id=candidate.pk, accept=True, actor=finance_user, reason="payer confirmed by phone"
    )

    candidate.refresh_from_db()
    assert (candidate.state, candidate.decided_by, candidate.reason) == (
        CandidateState.ACCEPTED,
        finance_user,
        "payer confirmed by phone",
    )
    line = StatementLine.objects.get(entry_id="BANK-7")
    assert (line.order, line.matched_by) == (clean["memo"], "memo")
    assert OrderEvent.objects.filter(order=clean["memo"], payload__memo_candidate=candidate.pk).exists()
    second = run_january(capture)
    assert (clean["memo"].number, "missing_bank_line", "bank") not in found(second)
    with pytest.raises(DomainError):
        memo_candidate_decide(candidate_id=candidate.pk, accept=False, actor=finance_user)


def test_a_resolved_difference_stays_resolved_in_the_next_run(month, capture, finance_user):
    first = run_january(capture)
    item = first.items.get(difference="missing_settlement")

    with pytest.raises(DomainError, match="Say why"):
        reconciliation_item_resolve(item_id=item.pk, reason="  ", actor=finance_user)
    reconciliation_item_resolve(item_id=item.pk, reason="statement for Feb not in yet", actor=finance_user)

    item.refresh_from_db()
    assert (item.resolved_by, item.resolution) == (finance_user, "statement for Feb not in yet")
    assert OrderEvent.objects.filter(order=item.order, payload__reconciliation_item=item.pk).exists()
    second = run_january(capture)
    carried = second.items.get(difference="missing_settlement")
    assert carried.resolved_at == item.resolved_at and carried.resolved_by == finance_user
    assert second.items.filter(resolved_at__isnull=True).count() == second.items.count() - 1


def test_a_second_click_joins_the_run_under_way(capture, finance_user):
    run, created = reconciliation_start(year=2026, month=1, actor=finance_user)  # not executed: no commit
    again, created_again = reconciliation_start(year=2026, month=1, actor=finance_user)

    assert created and not created_again and again.pk == run.pk
    assert reconciliation_execute(run_id=run.pk).state == "done"
    assert reconciliation_execute(run_id=run.pk).state == "done"  # a redelivered task does nothing
    assert ReconciliationItem.objects.filter(run=run).count() == 0


def test_reconciling_needs_the_permission_and_a_started_month(agent, finance_user):
    with pytest.raises(NotPermitted):
        reconciliation_start(year=2026, month=1, actor=agent)
    with pytest.raises(DomainError, match="not started"):
        reconciliation_start(year=2999, month=1, actor=finance_user)


@pytest.fixture
def finance_client(client, finance_user):
    client.force_login(finance_user)
    return client


def test_the_matrix_marks_differing_cells_filters_and_resolves(month, capture, finance_client):
    with capture(execute=True):
        response = finance_client.post("/finance/reconciliation/start/", {"month": "2026-01"}, follow=True)
    assert "Reconciliation of 2026-01 started." in response.text
    run = ReconciliationRun.objects.get()

    page = finance_client.get(f"/finance/reconciliation/{run.pk}/", {"difference": "amount_mismatch"})

    assert page.status_code == 200
    assert (
        '<td class="num" data-column="settlement"><mark title="differs"><strong>200.00</strong></mark></td>'
        in page.text
    )
    assert "Refund not reflected" not in page.text.split("<tbody>")[1]
    item = run.items.get(difference="amount_mismatch", column="settlement")
    finance_client.post(f"/finance/reconciliation/items/{item.pk}/resolve/", {"reason": "platform coupon"})
    item.refresh_from_db()
    assert item.resolution == "platform coupon"
    export = finance_client.get(f"/finance/reconciliation/{run.pk}/", {"format": "csv", "show": "all"})
    assert "platform coupon" in b"".join(export.streaming_content).decode("utf-8-sig")


def test_the_nightly_job_reconciles_yesterdays_month(capture):
    from finance.reconciliation.services import reconciliation_nightly

    run = reconciliation_nightly(now=datetime(2026, 2, 1, 3, 0, tzinfo=SH))

    assert (str(run.period), run.state, run.requested_by) == ("2026-01", "done", None)


@pytest.mark.parametrize("parts", [2, 3])
def test_the_comparison_in_parallel_parts_finds_what_one_query_finds(month, settings, parts):
    """The month's rows are not committed here (the test's transaction), as the lines a run has
    just matched are not: the parallel workers must see them. On PostgreSQL the plan is checked
    to have started workers, so the equality below is the workers' doing."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from finance.periods import period_get
    from finance.reconciliation.comparison import comparison_settings, differing_orders, query_settings

    january = period_get(2026, 1)
    settings.RECONCILE_QUERY_PARTS = 1
    one_query = sorted(differing_orders(january), key=lambda facts: facts.order_id)
    assert len(one_query) >= 9

    def planner_settings():
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('parallel_setup_cost'), current_setting('work_mem')")
            return cursor.fetchone()

    before = planner_settings() if connection.vendor == "postgresql" else None
    settings.RECONCILE_QUERY_PARTS = parts
    with CaptureQueriesContext(connection) as queries:
        in_parts = sorted(differing_orders(january), key=lambda facts: facts.order_id)
    assert in_parts == one_query
    if connection.vendor == "postgresql":
        (comparison,) = [q["sql"] for q in queries.captured_queries if "WITH pay AS" in q["sql"]]
        assert comparison.count("UNION ALL") == parts - 1
        with connection.cursor() as cursor, query_settings(cursor, comparison_settings(parts)):
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + comparison)
            plan = cursor.fetchone()[0][0]["Plan"]
        assert plan["Node Type"] == "Gather" and plan["Workers Launched"] >= 1, plan
        assert planner_settings() == before  # the run's later statements plan as usual


def test_a_comparison_that_fails_reports_its_own_error(month, capture, monkeypatch):
    """The planner settings are not put back after a failed query (the transaction cannot run
    anything more): the run fails with the query's error, not with 'transaction aborted'."""
    from django.db import connection

    from finance.reconciliation import comparison

    if connection.vendor != "postgresql":
        pytest.skip("the planner settings are PostgreSQL's")
    monkeypatch.setattr(comparison, "_facts_sql", lambda part=0: "SELECT no_such_column FROM finance_payment")
    with capture(execute=True):
        run, _created = reconciliation_start(year=2026, month=1)
    run.refresh_from_db()

    assert run.state == "failed"
    assert "no_such_column" in run.error and "aborted" not in run.error
