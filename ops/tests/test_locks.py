"""Lock waits are read from PostgreSQL's own statistics: a session really waiting for a row lock
held by another shows, with how long it has waited."""

import threading
import time

import psycopg
import pytest
from django.db import connection

from ops.locks import lock_waits


def _connect():
    db = connection.settings_dict
    return psycopg.connect(
        dbname=db["NAME"], user=db["USER"], password=db["PASSWORD"] or None, host=db["HOST"], port=db["PORT"]
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_real_lock_wait_is_seen_with_its_age():
    with _connect() as setup:
        setup.execute("CREATE TABLE ops_lock_probe (id int PRIMARY KEY)")
        setup.execute("INSERT INTO ops_lock_probe VALUES (1)")
    holder, waiter = _connect(), _connect()
    try:
        holder.execute("SELECT id FROM ops_lock_probe WHERE id = 1 FOR UPDATE")  # holds the row, open
        waiter.execute("SET lock_timeout = '20s'")
        blocked = threading.Thread(
            target=lambda: waiter.execute("SELECT id FROM ops_lock_probe WHERE id = 1 FOR UPDATE")
        )
        blocked.start()

        deadline, waits = time.monotonic() + 10, None
        while time.monotonic() < deadline:
            waits = lock_waits()
            if waits.waiting and waits.longest_seconds >= 0.5:
                break
            time.sleep(0.1)

        assert waits.waiting == 1
        assert waits.longest_seconds >= 0.5
        assert waits.by_kind == {"transactionid": 1}  # waiting for the holder's transaction to end
        assert waits.deadlocks >= 0
    finally:
        holder.rollback()  # the waiter gets the row and finishes
        blocked.join(timeout=20)
        waiter.rollback()
        holder.close()
        waiter.close()
        with _connect() as cleanup:
            cleanup.execute("DROP TABLE ops_lock_probe")

    assert lock_waits().waiting == 0


@pytest.mark.django_db
def test_without_postgresql_lock_waits_are_not_available(on_postgres):
    if on_postgres:
        pytest.skip("SQLite has no lock statistics to read")
    assert lock_waits() is None
