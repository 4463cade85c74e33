"""Hot SKU at the limit (issue #18): a batch of checkout locks costs two statements, overdue stock
is sellable at its deadline without a sweep, the pool look-up is cached with a clear invalidation
rule, and a caller is answered only after its batch committed."""

import threading
from datetime import timedelta

import psycopg
import pytest
from django.db import OperationalError, connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inventory import ledger, locks
from inventory.ledger import standard_pool
from inventory.models import SKU, ChannelPool, PoolKind, Reservation, StockBalance
from inventory.reconciliation import find_drift
from inventory.reservations import reserve
from orders.tests.factories import ChannelFactory, SKUFactory, ensure_master_data, receive

pytestmark = pytest.mark.django_db


def statements(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]


@pytest.fixture
def hot():
    ensure_master_data(stock=0)
    sku = SKUFactory(code="HOT")
    receive(sku, 100)
    return ChannelFactory(), sku


def request(channel, sku, quantity=1, **extra):
    return locks.LockRequest(channel_id=channel.pk, lines=[(sku.pk, quantity)], **extra)


@pytest.mark.postgres
def test_a_batch_of_locks_is_two_statements(hot):
    # given the channel's pools already read once by this process
    channel, sku = hot
    locks.stock_lock_batch([request(channel, sku)])

    # when 32 callers' locks go through as one batch
    with CaptureQueriesContext(connection) as captured:
        results = locks.stock_lock_batch([request(channel, sku, reference=f"c{n}") for n in range(32)])

    # then: the balance rows locked and read, then one statement for balance, locks, ledger, push mark
    sql = statements(captured)
    assert len(sql) == 2, sql
    assert "FOR UPDATE" in sql[0] and sql[1].lstrip().startswith("WITH d AS")
    assert all(len(r.locks) == 1 for r in results)
    stored = Reservation.objects.filter(pk__in=[r.locks[0].pk for r in results])
    assert {(r.fingerprint, r.quantity, r.reference) for r in stored} == {
        (r.locks[0].fingerprint, 1, r.locks[0].reference) for r in results
    }
    assert StockBalance.objects.get(sku=sku).reserved == 33
    assert find_drift() == []


def test_overdue_locks_are_sellable_at_their_deadline_before_any_sweep(hot):
    # given all 100 units locked, and the locks' deadline just passed (no sweep has run)
    channel, sku = hot
    [held] = locks.stock_lock_batch([request(channel, sku, quantity=100)])
    Reservation.objects.filter(pk=held.locks[0].pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    # when another caller asks for 60
    [taken] = locks.stock_lock_batch([request(channel, sku, quantity=60)])

    # then the overdue lock expired on the way and the units went to the new caller
    assert taken.short == [] and taken.locks[0].quantity == 60
    assert Reservation.objects.get(pk=held.locks[0].pk).state == "expired"
    assert StockBalance.objects.get(sku=sku).reserved == 60
    assert find_drift() == []


def test_a_batch_with_enough_stock_leaves_overdue_locks_to_the_sweep(hot):
    channel, sku = hot
    [held] = locks.stock_lock_batch([request(channel, sku, quantity=10)])
    Reservation.objects.filter(pk=held.locks[0].pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    [taken] = locks.stock_lock_batch([request(channel, sku, quantity=5)])

    assert taken.locks[0].quantity == 5
    assert Reservation.objects.get(pk=held.locks[0].pk).state == "active"  # not needed: not expired
    assert StockBalance.objects.get(sku=sku).reserved == 15


def test_pool_mappings_written_through_the_orm_apply_at_once(hot):
    # given a channel that drew from the default pool (and the process cached that)
    channel, sku = hot
    locks.stock_lock_batch([request(channel, sku)])
    live = standard_pool(PoolKind.LIVE)
    receive(sku, 7, pool=live)

    # when the channel is mapped to the live pool first
    ChannelPool.objects.create(channel=channel, pool=live, priority=1)
    [result] = locks.stock_lock_batch([request(channel, sku, quantity=3)])

    # then the next lock draws from it
    assert _balance(result.locks[0]).pool == live


def test_other_processes_see_a_pool_mapping_within_the_cache_window(hot, monkeypatch):
    channel, sku = hot
    locks.stock_lock_batch([request(channel, sku)])
    live = standard_pool(PoolKind.LIVE)
    receive(sku, 7, pool=live)
    # written without this process's signals, as another process's write looks to it
    ChannelPool.objects.bulk_create([ChannelPool(channel=channel, pool=live, priority=1)])
    [still] = locks.stock_lock_batch([request(channel, sku)])
    assert _balance(still.locks[0]).pool != live  # within the window: the cached mapping

    monkeypatch.setattr(reserve, "POOL_CACHE_SECONDS", 0.0)  # the window has passed
    [fresh] = locks.stock_lock_batch([request(channel, sku)])
    assert _balance(fresh.locks[0]).pool == live


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_caller_is_answered_only_after_its_lock_committed(hot):
    # given 32 callers at once, each checking its answer from an independent session
    channel, sku = hot
    settings_dict = connection.settings_dict
    dsn = (
        f"host={settings_dict['HOST'] or '127.0.0.1'} port={settings_dict['PORT'] or 5432} "
        f"dbname={settings_dict['NAME']} user={settings_dict['USER']}"
    )
    barrier, seen, errors = threading.Barrier(32), [], []

    def caller(n):
        try:
            barrier.wait()
            result = locks.stock_lock(request(channel, sku, reference=f"cart-{n}"))
            with psycopg.connect(dsn, password=settings_dict["PASSWORD"] or None) as other:
                row = other.execute(
                    "SELECT quantity FROM inventory_reservation WHERE fingerprint = %s",
                    [result.locks[0].fingerprint],
                ).fetchone()
            seen.append(row)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then every acknowledged lock was already visible to another session: committed
    assert errors == []
    assert seen == [(1,)] * 32
    batches = Reservation.objects.values("created_at").distinct().count()
    assert batches < 32  # callers shared commits
    assert find_drift() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_single_line_locks_are_one_self_committing_statement(hot):
    channel, sku = hot
    locks.stock_lock_batch([request(channel, sku)])  # the channel's pools, read once

    with CaptureQueriesContext(connection) as captured:
        results = locks.stock_lock_batch([request(channel, sku, reference=f"c{n}") for n in range(32)])

    assert len(captured.captured_queries) == 1, [q["sql"][:80] for q in captured.captured_queries]
    assert all(r.locks[0].quantity == 1 and r.locks[0].balance_id for r in results)
    stored = set(Reservation.objects.filter(reference__startswith="c").values_list("pk", "fingerprint"))
    assert stored == {(r.locks[0].pk, r.locks[0].fingerprint) for r in results}
    assert StockBalance.objects.get(sku=sku).reserved == 33
    assert find_drift() == []


def _rows_per_node(plan: dict):
    yield plan["Actual Rows"] * plan["Actual Loops"], plan["Node Type"]
    for child in plan.get("Plans", []):
        yield from _rows_per_node(child)


@pytest.mark.postgres
def test_a_batch_of_locks_reads_each_balance_row_at_most_once(hot):
    # given a catalogue whose balances all sit in the one default pool, never analysed (as after a
    # bulk load): joined on the pool, a batch of 32 read the pool once per lock
    channel, sku = hot
    others = SKU.objects.bulk_create([SKU(code=f"OTHER-{n}", name="other") for n in range(600)])
    pool = reserve.channel_pool_ids({channel.pk})[channel.pk]
    balance = StockBalance.objects.get(sku=sku)
    StockBalance.objects.bulk_create(
        [StockBalance(sku=other, warehouse_id=balance.warehouse_id, pool_id=pool[0]) for other in others]
    )
    now = timezone.now()
    rows = [
        ledger.NewReservation(
            fingerprint=f"plan-{n}",
            balance_id=0,
            sku_id=sku.pk,
            quantity=1,
            state="active",
            channel_id=channel.pk,
        )
        for n in range(32)
    ]
    params = ledger.unambiguous_parameters(rows, [pool] * 32, today=now.date(), now=now)

    # when PostgreSQL runs the lock statement for them (rolled back with the test)
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + ledger._RESERVE_UNAMBIGUOUS_SQL, params)
        plan = cursor.fetchone()[0][0]["Plan"]

    # then no step of it handles more rows than there are balance rows
    rows_handled, node = max(_rows_per_node(plan))
    assert rows_handled <= StockBalance.objects.count(), node
    assert StockBalance.objects.get(sku=sku).reserved == 32


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_lock_statement_is_planned_once_per_connection(hot):
    # given a connection that already stored a batch of locks
    channel, sku = hot
    locks.stock_lock_batch([request(channel, sku)])

    # when it stores two more
    for n in range(2):
        locks.stock_lock_batch([request(channel, sku, reference=f"again-{n}")])

    # then PostgreSQL holds the statement prepared for this connection, run three times
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans + custom_plans FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%INSERT INTO inventory_reservation%"],
        )
        assert cursor.fetchall() == [(3,)]
    assert StockBalance.objects.get(sku=sku).reserved == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_lock_reference_is_stored_exactly_as_given(hot):
    # the lock statement takes its rows as JSON text: quotes, backslashes and Chinese survive it
    channel, sku = hot
    odd = ['say "hi"', "C:\\path\\", "订单 #7 — 抢购", "tab\there", "{1,2}"]

    results = locks.stock_lock_batch([request(channel, sku, reference=text) for text in odd])

    stored = Reservation.objects.filter(pk__in=[r.locks[0].pk for r in results])
    assert sorted(stored.values_list("reference", flat=True)) == sorted(odd)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_sold_out_sku_answers_a_batch_short_without_a_transaction(hot):
    # given a hot SKU sold out, and nothing overdue to expire
    channel, sku = hot
    locks.stock_lock_batch([request(channel, sku, quantity=100)])

    # when 32 more callers ask for a unit each
    with CaptureQueriesContext(connection) as captured:
        results = locks.stock_lock_batch([request(channel, sku, reference=f"late-{n}") for n in range(32)])

    # then the lock statement said what was left, and one look found nothing overdue: no
    # transaction, no balance read again
    sql = statements(captured)
    assert len(sql) == 2, sql
    assert sql[0].lstrip().startswith("WITH d AS") and "inventory_reservation" in sql[1]
    assert "FOR UPDATE" not in sql[1]
    assert all(r.locks == [] and r.short == [sku.pk] for r in results)
    assert Reservation.objects.filter(reference__startswith="late-").count() == 0
    assert StockBalance.objects.get(sku=sku).reserved == 100
    assert find_drift() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_lock_bigger_than_what_is_left_is_short_while_a_smaller_one_still_gets_the_units(hot):
    channel, sku = hot
    locks.stock_lock_batch([request(channel, sku, quantity=98)])

    big, small, another = locks.stock_lock_batch(
        [
            request(channel, sku, quantity=5),
            request(channel, sku, quantity=1),
            request(channel, sku, quantity=2),
        ]
    )

    assert big.locks == [] and big.short == [sku.pk]
    assert small.locks[0].quantity == 1 and small.short == []
    assert another.locks == [] and another.short == [sku.pk]  # one unit left after the small one
    assert StockBalance.objects.get(sku=sku).reserved == 99
    assert find_drift() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_sold_out_sku_with_an_overdue_lock_still_serves_from_it(hot):
    # given a sold-out SKU whose one lock passed its deadline (no sweep ran)
    channel, sku = hot
    [held] = locks.stock_lock_batch([request(channel, sku, quantity=100)])
    Reservation.objects.filter(pk=held.locks[0].pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    results = locks.stock_lock_batch([request(channel, sku, reference=f"c{n}") for n in range(3)])

    assert all(len(r.locks) == 1 for r in results)
    assert Reservation.objects.get(pk=held.locks[0].pk).state == "expired"
    assert StockBalance.objects.get(sku=sku).reserved == 3
    assert find_drift() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_near_sell_out_a_batch_is_served_one_by_one_and_never_oversells():
    ensure_master_data(stock=0)
    channel, sku = ChannelFactory(), SKUFactory(code="LAST")
    receive(sku, 10)
    [held] = locks.stock_lock_batch([request(channel, sku, quantity=4)])
    Reservation.objects.filter(pk=held.locks[0].pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    # 32 callers of one unit each, 6 units free and 4 overdue
    results = locks.stock_lock_batch([request(channel, sku, reference=f"c{n}") for n in range(32)])

    assert [bool(r.locks) for r in results] == [True] * 10 + [False] * 22
    assert all(r.short == [sku.pk] for r in results[10:])
    assert Reservation.objects.get(pk=held.locks[0].pk).state == "expired"
    assert StockBalance.objects.get(sku=sku).reserved == 10
    assert find_drift() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_sku_in_several_lots_is_locked_first_expiring_first():
    ensure_master_data(stock=0)
    channel, tea = ChannelFactory(), SKUFactory(code="TEA", lot_tracked=True)
    today = timezone.localdate()
    receive(tea, 5, lot_code="LATE", expires_on=today + timedelta(days=400))
    receive(tea, 5, lot_code="SOON", expires_on=today + timedelta(days=200))

    results = locks.stock_lock_batch([request(channel, tea, quantity=3) for _ in range(2)])

    assert [[_balance(lock).lot.code for lock in r.locks] for r in results] == [["SOON"], ["SOON", "LATE"]]
    assert find_drift() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_failure_after_part_of_a_batch_committed_is_answered_to_its_own_caller(hot, monkeypatch):
    # given a batch of two single-line locks (committed by the first statement) and a two-line one
    # whose transaction fails
    channel, sku = hot
    other = SKUFactory(code="OTHER")
    receive(other, 5)
    two_lines = locks.LockRequest(channel_id=channel.pk, lines=[(sku.pk, 1), (other.pk, 1)])

    def broken(demands, *, now=None):
        raise OperationalError("connection lost")

    monkeypatch.setattr(locks.reservations, "reserve_orders", broken)
    results = locks.stock_lock_batch([request(channel, sku), two_lines, request(channel, sku)])

    # then the committed locks are answered, the failed one gets its error, nothing was taken twice
    assert isinstance(results[1], OperationalError)
    assert [len(results[0].locks), len(results[2].locks)] == [1, 1]
    assert Reservation.objects.count() == 2 and StockBalance.objects.get(sku=sku).reserved == 2
    assert find_drift() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_batch_whose_commit_fails_acknowledges_nobody(hot, monkeypatch):
    # given the database dies at the batch's commit (two-line locks: one transaction per batch)
    channel, sku = hot
    other = SKUFactory(code="OTHER")
    receive(other, 50)
    barrier, answers, errors = threading.Barrier(8), [], []

    def crash(self):
        raise OperationalError("server closed the connection unexpectedly")

    def caller(n):
        try:
            barrier.wait()
            answers.append(
                locks.stock_lock(locks.LockRequest(channel_id=channel.pk, lines=[(sku.pk, 1), (other.pk, 1)]))
            )
        except OperationalError as exc:
            errors.append(exc)
        finally:
            connection.close()

    with monkeypatch.context() as patch:
        patch.setattr(BaseDatabaseWrapper, "commit", crash)
        threads = [threading.Thread(target=caller, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    # then no caller holds a lock, and nothing of the batch was kept
    assert answers == [] and len(errors) == 8
    assert not Reservation.objects.exists()
    assert StockBalance.objects.get(sku=sku).reserved == 0 == StockBalance.objects.get(sku=other).reserved
    assert find_drift() == []


def _balance(lock):
    """The balance a lock holds units on (a lock answered by the fast path is not a model)."""
    return Reservation.objects.select_related("balance__pool", "balance__lot").get(pk=lock.pk).balance
