"""The Redis cache backend (core.redis_cache) keeps one Redis client per connection pool: the
same values in and out as Django's, without building a client on every call."""

import uuid

import redis

from core.redis_cache import RedisCache
from core.tests.real_worker import redis_url


def test_values_round_trip_and_every_call_uses_the_one_client(monkeypatch):
    cache = RedisCache(redis_url(), {"KEY_PREFIX": f"test-{uuid.uuid4().hex}"})
    built = []
    real_init = redis.Redis.__init__
    monkeypatch.setattr(
        redis.Redis, "__init__", lambda self, *a, **k: built.append(1) or real_init(self, *a, **k)
    )
    try:
        cache.set("permissions", {"inventory.add_reservation"}, 30)
        cache.set("version", "v1", 30)

        assert cache.get("permissions") == {"inventory.add_reservation"}
        assert cache.get_many(["version", "permissions", "missing"]) == {
            "version": "v1",
            "permissions": {"inventory.add_reservation"},
        }
        assert cache.add("version", "v2") is False and cache.get("version") == "v1"
        assert len(built) == 1  # one client for all six calls (Django's backend builds six)
    finally:
        cache.delete_many(["permissions", "version"])
