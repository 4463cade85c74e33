from datetime import timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone

from core.errors import NotPermitted
from core.models import Alert
from inventory import reservations
from inventory.ledger import standard_pool
from inventory.models import (
    ChannelPool,
    MovementKind,
    PendingRelease,
    ReleaseBreaker,
    Reservation,
    SafetyStock,
    StockBalance,
)
from inventory.reconciliation import find_drift
from inventory.selectors import channel_sellable
from inventory.services import stock_transfer
from inventory.stock_push import push_pending_stock, register_stock_listener, unregister_stock_listener
from orders import services
from orders.models import OrderStatus
from orders.tests.factories import (
    ChannelFactory,
    SKUFactory,
    drive_shipments,
    ensure_master_data,
    make_order,
    receive,
)

pytestmark = pytest.mark.django_db


def stock(code="SKU-1"):
    totals = StockBalance.objects.filter(sku__code=code).aggregate(
        on_hand=Sum("on_hand"), reserved=Sum("reserved"), qc_hold=Sum("qc_hold")
    )
    return totals["on_hand"], totals["reserved"], totals["qc_hold"]


def one_line(sku="SKU-1", quantity=1, **overrides):
    return make_order(lines=[{"sku": sku, "quantity": quantity, "unit_price": "10.00"}], **overrides)


@pytest.fixture
def scarce():
    """SKU-1 with only 5 units; SKU-2 with plenty."""
    ensure_master_data(stock=0)
    receive(SKUFactory(code="SKU-1"), 5)
    receive(SKUFactory(code="SKU-2"), 100)


@pytest.fixture(autouse=True)
def ledger_stays_true():
    yield
    assert find_drift() == []  # after every test, balances equal their ledger


def test_order_creation_reserves_each_line_with_a_fingerprint_and_deadline(scarce):
    before = timezone.now()
    order = make_order()  # SKU-1 ×2, SKU-2 ×1, unpaid

    held = list(order.reservations.order_by("order_line__line_no"))
    assert [(r.sku.code, r.quantity, r.state) for r in held] == [
        ("SKU-1", 2, "active"),
        ("SKU-2", 1, "active"),
    ]
    assert len({r.fingerprint for r in held}) == 2
    deadline = held[0].expires_at - before
    assert timedelta(minutes=29) < deadline <= timedelta(minutes=30, seconds=5)
    assert stock("SKU-1") == (5, 2, 0)
    assert set(order.stock_movements.values_list("kind", flat=True)) == {MovementKind.RESERVE}


def test_payment_commits_and_shipping_consumes(scarce):
    order = make_order()
    order = services.order_transition(order=order, name="mark_paid")
    assert set(order.reservations.values_list("state", flat=True)) == {"committed"}
    assert not order.reservations.filter(expires_at__isnull=False).exists()

    order = services.order_transition(order=order, name="allocate")  # routing links them to the shipment
    drive_shipments(order)

    assert set(order.reservations.values_list("state", flat=True)) == {"consumed"}
    assert stock("SKU-1") == (3, 0, 0)


def test_a_multi_line_order_reserves_all_lines_or_none(scarce):
    order = make_order(
        lines=[
            {"sku": "SKU-2", "quantity": 1, "unit_price": "1.00"},
            {"sku": "SKU-1", "quantity": 6, "unit_price": "1.00"},
        ]
    )

    assert order.status == OrderStatus.ON_HOLD
    assert "Out of stock: SKU-1" in order.hold_reason
    assert not order.reservations.exists()
    assert stock("SKU-2") == (100, 0, 0)


def test_release_from_hold_reserves_what_arrived(scarce):
    order = one_line(quantity=6)
    assert order.status == OrderStatus.ON_HOLD

    with pytest.raises(Exception, match="Out of stock"):
        services.order_transition(order=order, name="release")
    receive(SKUFactory(code="SKU-1"), 1)
    order = services.order_transition(order=order, name="release")

    assert order.status == OrderStatus.PENDING_PAYMENT
    assert stock("SKU-1") == (6, 6, 0)


def test_cancelling_part_of_a_line_releases_exactly_that(scarce, agent):
    order = one_line(quantity=4)
    line = order.lines.get()

    services.order_cancel_lines(order=order, quantities={line.pk: 1}, actor=agent, reason="size")
    assert stock("SKU-1") == (5, 3, 0)
    services.order_cancel_lines(order=order, quantities={line.pk: 2}, actor=agent, reason="size")
    assert stock("SKU-1") == (5, 1, 0)
    services.order_transition(order=order, name="cancel", actor=agent, reason="changed mind")

    assert stock("SKU-1") == (5, 0, 0)
    assert set(order.reservations.values_list("state", flat=True)) == {"released"}
    released = order.stock_movements.filter(kind=MovementKind.RELEASE)
    assert sorted(released.values_list("reserved_delta", flat=True)) == [-2, -1, -1]


def test_a_release_needs_the_lock_fingerprint(scarce):
    order = one_line(quantity=2)
    line = order.lines.get()
    with pytest.raises(NotPermitted):
        reservations.reservations_release(
            order_id=order.pk, fingerprints={"forged"}, line_quantities={line.pk: 1}
        )
    assert stock("SKU-1") == (5, 2, 0)


def test_first_expiring_lot_is_picked_and_expired_lots_are_not(db):
    ensure_master_data(stock=0)
    tea = SKUFactory(code="TEA-1", lot_tracked=True)
    today = timezone.localdate()
    receive(tea, 5, lot_code="LATE", expires_on=today + timedelta(days=400))
    receive(tea, 5, lot_code="SOON", expires_on=today + timedelta(days=200))
    receive(tea, 5, lot_code="GONE", expires_on=today - timedelta(days=1))

    order = one_line("TEA-1", quantity=7)

    lots = dict(order.reservations.values_list("balance__lot__code", "quantity"))
    assert lots == {"SOON": 5, "LATE": 2}
    assert order.status == OrderStatus.PENDING_PAYMENT


def test_a_lot_near_expiry_holds_the_order_for_qa(db):
    ensure_master_data(stock=0)
    tea = SKUFactory(code="TEA-2", lot_tracked=True)
    receive(tea, 5, lot_code="L1", expires_on=timezone.localdate() + timedelta(days=60))

    order = one_line("TEA-2", quantity=1)

    assert order.status == OrderStatus.ON_HOLD
    assert "QA review" in order.hold_reason and "L1" in order.hold_reason
    assert order.reservations.get().quantity == 1  # the stock stays held while QA looks


def test_a_channel_draws_only_from_its_pools(db):
    ensure_master_data(stock=0)
    sku = SKUFactory(code="SKU-1")
    receive(sku, 10)
    live_shop = ChannelFactory(code="live-shop", name="Live")
    live = standard_pool("live")
    ChannelPool.objects.create(channel=live_shop, pool=live)
    stock_transfer(balance=StockBalance.objects.get(sku=sku), quantity=3, to_pool=live)

    assert channel_sellable([sku.pk], [ChannelFactory().pk, live_shop.pk]) == {
        ChannelFactory().pk: {sku.pk: 7},
        live_shop.pk: {sku.pk: 3},
    }
    held = one_line(channel="live-shop", quantity=4)
    assert held.status == OrderStatus.ON_HOLD  # only 3 in its pool
    taken = one_line(channel="live-shop", quantity=3)
    assert taken.reservations.get().balance.pool == live


def test_overdue_reservations_stop_counting_before_the_sweep(scarce):
    order = one_line(quantity=5)
    Reservation.objects.filter(order=order).update(expires_at=timezone.now() - timedelta(seconds=1))
    sku = SKUFactory(code="SKU-1")

    assert channel_sellable([sku.pk], [ChannelFactory().pk])[ChannelFactory().pk][sku.pk] == 5
    second = one_line(quantity=5)  # takes the stock back from the overdue reservation

    assert second.status == OrderStatus.PENDING_PAYMENT
    assert order.reservations.get().state == "expired"
    assert stock("SKU-1") == (5, 5, 0)


def test_the_sweep_expires_only_due_reservations():
    ensure_master_data(stock=0)
    receive(SKUFactory(code="SKU-1"), 50)
    due = [one_line() for _ in range(3)]
    fresh = one_line()
    paid = one_line(paid=True)
    Reservation.objects.filter(order__in=[*due, paid]).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )

    assert reservations.reservations_expire_sweep(batch_size=2) == 3
    assert reservations.reservations_expire_sweep() == 0

    assert set(Reservation.objects.filter(order__in=due).values_list("state", flat=True)) == {"expired"}
    assert fresh.reservations.get().state == "active"
    assert paid.reservations.get().state == "committed"
    assert stock("SKU-1") == (50, 2, 0)


def test_payment_after_expiry_reserves_again(scarce):
    order = one_line(quantity=2)
    Reservation.objects.filter(order=order).update(expires_at=timezone.now() - timedelta(minutes=1))
    reservations.reservations_expire_sweep()

    order = services.order_transition(order=order, name="mark_paid")

    assert order.status == OrderStatus.PAID
    assert order.reservations.get(state="committed").quantity == 2
    assert stock("SKU-1") == (5, 2, 0)


def test_breaker_pauses_releases_past_the_limit_until_a_manager_resumes(scarce, settings, manager, agent):
    settings.INVENTORY_RELEASE_BREAKER_LIMIT = 2
    receive(SKUFactory(code="SKU-1"), 5)
    orders = [one_line() for _ in range(3)]

    for order in orders:
        services.order_transition(order=order, name="cancel", actor=agent, reason="fraud wave")

    assert stock("SKU-1") == (10, 1, 0)  # the third release waits
    assert ReleaseBreaker.objects.get(sku__code="SKU-1").is_open
    assert PendingRelease.objects.filter(applied_at__isnull=True).count() == 1
    alert = Alert.objects.get(kind="release_breaker")
    assert alert.role == "manager" and alert.state == "open"
    assert "wait for a manager" in orders[2].events.last().reason

    with pytest.raises(NotPermitted):
        reservations.breaker_resume(sku_id=SKUFactory(code="SKU-1").pk, actor=agent)
    assert reservations.breaker_resume(sku_id=SKUFactory(code="SKU-1").pk, actor=manager) == 1

    assert stock("SKU-1") == (10, 0, 0)
    assert not ReleaseBreaker.objects.get(sku__code="SKU-1").is_open
    assert Alert.objects.get(pk=alert.pk).state == "resolved"


def test_the_sweep_respects_the_breaker(scarce, settings):
    settings.INVENTORY_RELEASE_BREAKER_LIMIT = 1
    orders = [one_line() for _ in range(3)]
    Reservation.objects.filter(order__in=orders).update(expires_at=timezone.now() - timedelta(minutes=1))

    assert reservations.reservations_expire_sweep() == 1
    assert ReleaseBreaker.objects.get(sku__code="SKU-1").is_open
    assert Reservation.objects.filter(state="active").count() == 2


def test_shipping_keeps_units_whose_release_waits(scarce, settings, agent):
    settings.INVENTORY_RELEASE_BREAKER_LIMIT = 0
    order = one_line(quantity=3, paid=True)
    services.order_cancel_lines(order=order, quantities={order.lines.get().pk: 1}, actor=agent, reason="x")
    services.order_transition(order=order, name="allocate")
    drive_shipments(order)

    assert stock("SKU-1") == (3, 1, 0)  # 2 shipped, 1 still held until the review


def test_safety_stock_stops_the_channel_and_alerts(scarce):
    sku = SKUFactory(code="SKU-1")
    channel = ChannelFactory()
    SafetyStock.objects.create(sku=sku, channel=channel, quantity=3)
    pushed = []
    listener = register_stock_listener(pushed.append)
    try:
        one_line(quantity=2)
        assert push_pending_stock() >= 1
    finally:
        unregister_stock_listener(listener)

    assert channel_sellable([sku.pk], [channel.pk]) == {channel.pk: {sku.pk: 0}}
    assert Alert.objects.get(kind="safety_stock").state == "open"

    receive(sku, 10)
    push_pending_stock()
    assert channel_sellable([sku.pk], [channel.pk]) == {channel.pk: {sku.pk: 10}}
    assert Alert.objects.get(kind="safety_stock").state == "resolved"


def test_stock_push_reaches_listeners_on_commit(scarce, django_capture_on_commit_callbacks):
    pushed = []
    listener = register_stock_listener(pushed.append)
    try:
        one_line(quantity=1)
        with django_capture_on_commit_callbacks(execute=True):
            push_pending_stock()
    finally:
        unregister_stock_listener(listener)
    assert pushed[-1][ChannelFactory().pk]["SKU-1"] == 4


def breaker_history(settings):
    """A: 3 releases in the hour of 5 allowed; B: its own limit 3, 1 since its resume; C: paused."""
    from inventory.models import MovementKind, ReleaseBreaker, StockBalance, StockMovement
    from inventory.reservations.breaker import ROUTED_KEY

    settings.INVENTORY_RELEASE_BREAKER_LIMIT = 5
    now = timezone.now()
    plain, own_limit, paused = SKUFactory(code="A"), SKUFactory(code="B"), SKUFactory(code="C")
    own_limit.release_breaker_limit = 3
    own_limit.save()
    for sku in (plain, own_limit, paused):
        receive(sku, 10)

    def released(sku, minutes_ago, kind=MovementKind.RELEASE, payload=None):
        StockMovement.objects.create(
            balance=StockBalance.objects.get(sku=sku),
            sku=sku,
            kind=kind,  # counted by kind and time only: no units move, so the ledger still agrees
            payload=payload or {},
            created_at=now - timedelta(minutes=minutes_ago),
        )

    # A: two releases and an expiry within the hour count; one older, and routing's, do not
    for minutes_ago in (10, 10):
        released(plain, minutes_ago)
    released(plain, 30, kind=MovementKind.EXPIRE)
    released(plain, 90)
    released(plain, 5, payload={ROUTED_KEY: "WH-2"})
    # B: its own limit of 3; resumed 20 minutes ago, so only the release since then counts
    ReleaseBreaker.objects.create(sku=own_limit, is_open=False, resumed_at=now - timedelta(minutes=20))
    released(own_limit, 30)
    released(own_limit, 30)
    released(own_limit, 10)
    # C: paused
    ReleaseBreaker.objects.create(sku=paused, is_open=True, tripped_at=now)
    return plain, own_limit, paused, now


def test_release_allowance_counts_the_last_hour_or_since_a_resume_with_each_skus_limit(settings):
    plain, own_limit, paused, now = breaker_history(settings)

    allowance = reservations.release_allowance({plain.pk, own_limit.pk, paused.pk}, now=now)

    assert allowance == {plain.pk: 5 - 3, own_limit.pk: 3 - 1, paused.pk: 0}


def test_the_sweep_spends_each_skus_allowance_on_its_earliest_deadlines(settings):
    """The breaker as the sweep applies it (on PostgreSQL inside its one statement): per SKU, its
    own limit or the default, releases since its window or resume, earliest deadlines first; a
    paused SKU keeps its reservations; the SKU that ran out is paused with an alert."""
    ensure_master_data(stock=0)
    plain, own_limit, paused, now = breaker_history(settings)
    due = {sku.code: [one_line(sku=sku.code) for _ in range(3)] for sku in (plain, own_limit, paused)}
    for orders in due.values():
        for minutes, order in zip((3, 1, 2), orders, strict=True):  # the 2nd is the least overdue
            Reservation.objects.filter(order=order).update(expires_at=now - timedelta(minutes=minutes))

    assert reservations.reservations_expire_sweep(now=now) == 2 + 2

    def expired(code):
        return [order.reservations.get().state == "expired" for order in due[code]]

    assert expired("A") == [True, False, True]  # allowance 2: deadlines 3 and 2 minutes ago
    assert expired("B") == [True, False, True]  # its own 3, one used since the resume
    assert expired("C") == [False, False, False]  # paused
    assert set(ReleaseBreaker.objects.filter(is_open=True).values_list("sku__code", flat=True)) == {
        "A",
        "B",
        "C",
    }
    assert set(Alert.objects.filter(kind="release_breaker").values_list("key", flat=True)) == {
        f"release_breaker:{plain.pk}",
        f"release_breaker:{own_limit.pk}",
    }
    assert stock("A") == (10, 1, 0) and stock("C") == (10, 3, 0)


def test_a_batch_takes_its_fingerprints_from_one_read_and_each_is_its_own(monkeypatch):
    """A fingerprint is the lock id a caller presents to release its reservation: a batch's are as
    long and as random as one made alone, from one read of the random source, none shared."""
    from inventory.models import reservations as models

    reads, token_hex = [], models.secrets.token_hex
    monkeypatch.setattr(models.secrets, "token_hex", lambda n: reads.append(n) or token_hex(n))

    made = models.new_fingerprints(3_000)

    assert reads == [16 * 3_000]
    assert len(made) == len(set(made)) == 3_000
    assert all(len(f) == 32 and int(f, 16) >= 0 for f in made)
    assert len(models.new_fingerprint()) == 32
