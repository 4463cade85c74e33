import json
import re
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from inventory import locks, reservations
from inventory.api import fields
from inventory.api.serializers import LockOutput
from inventory.models import SKU, Reservation, StockBalance
from inventory.reconciliation import find_drift
from orders.models import OrderStatus
from orders.tests.factories import ChannelFactory, SKUFactory, ensure_master_data, make_order, receive

pytestmark = pytest.mark.django_db
URL = "/api/v1/stock/locks/"


@pytest.fixture
def api(manager):
    ensure_master_data(stock=0)
    receive(SKUFactory(code="SKU-1"), 5)
    client = APIClient()
    client.force_authenticate(manager)
    return client


def figures():
    b = StockBalance.objects.get(sku__code="SKU-1")
    return b.on_hand, b.reserved


def lock(api, quantity=2, **extra):
    body = {
        "channel": "shop-cn",
        "reference": "cart-1",
        "lines": [{"sku": "SKU-1", "quantity": quantity}],
        **extra,
    }
    return api.post(URL, body, format="json")


def test_a_lock_holds_stock_and_the_order_naming_it_takes_it_over(api):
    response = lock(api, quantity=2)
    assert response.status_code == 201
    [held] = response.data["locks"]
    assert (held["sku"], held["quantity"], figures()) == ("SKU-1", 2, (5, 2))

    order = make_order(
        lines=[{"sku": "SKU-1", "quantity": 2, "unit_price": "5.00", "lock": held["fingerprint"]}]
    )

    assert order.status == OrderStatus.PENDING_PAYMENT
    [reservation] = order.reservations.all()
    assert (reservation.fingerprint, reservation.order_line.line_no) == (held["fingerprint"], 1)
    assert figures() == (5, 2)  # taken over, not reserved twice
    assert find_drift() == []


def test_units_locked_beyond_the_order_go_back(api):
    fingerprint = lock(api, quantity=3).data["locks"][0]["fingerprint"]
    make_order(paid=True, lines=[{"sku": "SKU-1", "quantity": 1, "unit_price": "5.00", "lock": fingerprint}])
    assert figures() == (5, 1)
    assert Reservation.objects.get(fingerprint=fingerprint).state == "committed"
    assert find_drift() == []


def test_short_stock_is_a_409_and_holds_nothing(api):
    response = lock(api, quantity=6)
    assert response.status_code == 409 and "SKU-1" in str(response.data["lines"])
    assert figures() == (5, 0)


def test_release_needs_the_fingerprint(api):
    fingerprint = lock(api).data["locks"][0]["fingerprint"]
    forged = api.post(URL + "release/", {"fingerprints": ["f" * 32]}, format="json")
    assert forged.status_code == 400 and figures() == (5, 2)

    released = api.post(URL + "release/", {"fingerprints": [fingerprint]}, format="json")
    assert released.data == {"released": 2, "deferred": 0}
    assert figures() == (5, 0)
    again = api.post(URL + "release/", {"fingerprints": [fingerprint]}, format="json")
    assert again.status_code == 400


def test_unbound_locks_expire_like_unpaid_orders(api):
    lock(api, ttl_seconds=30)
    Reservation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert reservations.reservations_expire_sweep() == 1
    assert figures() == (5, 0)


def test_a_lapsed_lock_is_ignored_and_the_line_reserved_normally(api):
    # 4 of 5 locked: the order's 2 units need the lapsed lock's, so it expires on the way
    # (a batch that finds enough stock leaves overdue locks to the sweep: test_hot_sku)
    fingerprint = lock(api, quantity=4).data["locks"][0]["fingerprint"]
    Reservation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    order = make_order(lines=[{"sku": "SKU-1", "quantity": 2, "unit_price": "5.00", "lock": fingerprint}])
    assert order.reservations.get().fingerprint != fingerprint
    assert figures() == (5, 2)


def test_the_lock_body_is_what_the_lock_output_serializer_writes(api):
    response = lock(api, quantity=2, reference="cart-77")

    assert response.status_code == 201
    stored = Reservation.objects.filter(order__isnull=True).select_related("sku")
    assert response.data["locks"] == LockOutput(stored, many=True).data
    assert response.data["locks"][0]["reference"] == "cart-77"


def test_lock_requests_look_their_channel_and_sku_up_once_for_a_few_seconds(api):
    assert lock(api, quantity=1).status_code == 201

    with CaptureQueriesContext(connection) as captured:
        assert lock(api, quantity=1).status_code == 201

    looked_up = [
        q["sql"]
        for q in captured.captured_queries
        if re.search(r"FROM .(inventory_sku|catalog_channel).", q["sql"])
    ]
    assert looked_up == []
    assert figures() == (5, 2)


def test_a_sku_deactivated_through_the_orm_is_refused_at_once(api):
    assert lock(api, quantity=1).status_code == 201
    sku = SKU.objects.get(code="SKU-1")
    sku.is_active = False
    sku.save()

    response = lock(api, quantity=1)

    assert response.status_code == 400 and "SKU-1" in str(response.data["lines"])
    assert figures() == (5, 1)


def test_a_sku_deactivated_by_another_process_is_refused_once_the_cache_window_passed(api, monkeypatch):
    assert lock(api, quantity=1).status_code == 201
    SKU.objects.filter(code="SKU-1").update(is_active=False)  # no signal: as another process's write looks
    assert lock(api, quantity=1).status_code == 201  # within the window: the code found active

    monkeypatch.setattr(fields, "CODE_CACHE_SECONDS", 0.0)
    response = lock(api, quantity=1)

    assert response.status_code == 400 and "SKU-1" in str(response.data["lines"])
    assert figures() == (5, 2)


def test_locking_needs_the_permission(make_user):
    ensure_master_data(stock=5)
    client = APIClient()
    client.force_authenticate(make_user("customer_service"))
    assert lock(client).status_code == 403


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_64_concurrent_lockers_share_commits_and_never_oversell():
    ensure_master_data(stock=0)
    receive(SKUFactory(code="HOT"), 20)
    channel, hot = ChannelFactory(), SKUFactory(code="HOT")
    barrier, results, errors = threading.Barrier(64), [], []

    def caller():
        try:
            barrier.wait()
            results.append(locks.stock_lock(locks.LockRequest(channel_id=channel.pk, lines=[(hot.pk, 1)])))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=caller) for _ in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sum(1 for r in results if r.locks) == 20 and sum(1 for r in results if r.short) == 44
    assert StockBalance.objects.get(sku=hot).reserved == 20
    assert find_drift() == []


def test_a_refused_lock_request_gets_drfs_errors_and_leaves_nothing_behind(api):
    """The endpoint validates with one serializer per thread (core.plain_validation): the errors
    are DRF's, field by field, and the next request is validated afresh."""
    from inventory.api.serializers import LockInput

    bad = {
        "channel": "shop-cn",
        "reference": "",
        "ttl_seconds": 5,
        "lines": [{"sku": "SKU-1", "quantity": 0}],
    }
    expected = LockInput(data=bad)
    assert not expected.is_valid()

    refused = api.post(URL, bad, format="json")
    accepted = lock(api, quantity=1)

    assert refused.status_code == 400 and refused.json() == json.loads(json.dumps(expected.errors))
    assert set(refused.json()) == {"reference", "ttl_seconds", "lines"}
    assert accepted.status_code == 201 and figures() == (5, 1)
