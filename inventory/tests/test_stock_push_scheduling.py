"""A stock change schedules its channel push after it commits: with the broker or the cache
down, the change is answered as done (it is stored), the failure is logged, and the SKUs stay
pending for the periodic push (inventory.tasks.push_stock every 5 minutes)."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from core.tests.real_worker import DEAD_BROKER, publishing_to
from inventory.models import StockMovement, StockPushPending
from inventory.tasks import PUSH_SCHEDULED
from orders.tests.factories import ensure_master_data

# on-commit callbacks run at the request's own commit, as in production
pytestmark = pytest.mark.django_db(transaction=True)

RECEIPT = {"sku": "SKU-1", "warehouse": "WH-HZ", "quantity": 5, "kind": "receipt", "reference": "PO-9"}


@pytest.fixture
def api(warehouse_user):
    ensure_master_data(stock=10)
    StockPushPending.objects.all().delete()
    cache.delete(PUSH_SCHEDULED)  # the set-up's own push window
    client = APIClient()
    client.force_authenticate(warehouse_user)
    return client


def test_a_stock_movement_is_answered_and_kept_when_the_broker_is_down(api, caplog):
    with publishing_to(DEAD_BROKER):
        response = api.post("/api/v1/stock/movements/", RECEIPT, format="json")

    assert response.status_code == 201
    assert StockMovement.objects.filter(reference="PO-9", on_hand_delta=5).exists()
    assert StockPushPending.objects.filter(sku__code="SKU-1").exists()  # for the periodic push
    assert "could not publish inventory.tasks.push_stock" in caplog.text
    assert cache.get(PUSH_SCHEDULED) is None  # released: the next change tries to publish again


def test_a_stock_movement_is_answered_and_kept_when_the_cache_is_down(api, settings, caplog):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": DEAD_BROKER}
    }

    response = api.post("/api/v1/stock/movements/", RECEIPT, format="json")

    assert response.status_code == 201
    assert StockMovement.objects.filter(reference="PO-9", on_hand_delta=5).exists()
    assert "stock push not scheduled, the cache is unavailable" in caplog.text
