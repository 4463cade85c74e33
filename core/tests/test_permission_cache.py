"""Permissions are read from the database once per user and set of assignments, not on every
request; taking a permission away works on the very next request however it is taken away."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core.roles import Role

pytestmark = pytest.mark.django_db
URL = "/api/v1/orders/"  # needs orders.view_order


def _permission_queries(client) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        status = client.get(URL).status_code
    return status, sum(1 for q in queries.captured_queries if "auth_permission" in q["sql"])


@pytest.fixture
def agent_api(make_user):
    user = make_user(Role.CUSTOMER_SERVICE)
    client = APIClient()  # a token: each request loads the user afresh, as in production
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return user, client


def test_permissions_are_read_once_then_from_the_cache(agent_api):
    _user, client = agent_api
    assert _permission_queries(client) == (200, 2)  # the user's own, then its groups'
    assert _permission_queries(client) == (200, 0)


def test_cached_permissions_cost_one_round_trip_to_the_cache(agent_api, monkeypatch):
    from django.core.cache import cache

    user, client = agent_api
    assert _permission_queries(client)[0] == 200
    calls, inside_get_many = [], []
    real_get, real_get_many = cache.get, cache.get_many

    def get_many(keys, *args, **kwargs):
        calls.append(sorted(keys))
        inside_get_many.append(True)  # a cache may read each key of get_many by get
        try:
            return real_get_many(keys, *args, **kwargs)
        finally:
            inside_get_many.pop()

    def get(key, *args, **kwargs):
        if not inside_get_many:
            calls.append(key)
        return real_get(key, *args, **kwargs)

    monkeypatch.setattr(cache, "get_many", get_many)
    monkeypatch.setattr(cache, "get", get)

    assert _permission_queries(client) == (200, 0)
    permission_reads = [call for call in calls if "auth:permissions" in str(call)]
    assert permission_reads == [sorted(["auth:permissions:version", f"auth:permissions:{user.pk}"])]


def test_leaving_the_group_takes_effect_on_the_next_request(agent_api):
    user, client = agent_api
    assert _permission_queries(client)[0] == 200
    user.groups.clear()
    assert _permission_queries(client) == (403, 2)


def test_a_permission_taken_from_the_group_takes_effect_on_the_next_request(agent_api):
    _user, client = agent_api
    assert _permission_queries(client)[0] == 200
    Group.objects.get(name=Role.CUSTOMER_SERVICE).permissions.remove(
        Permission.objects.get(content_type__app_label="orders", codename="view_order")
    )
    assert _permission_queries(client)[0] == 403


def test_a_deactivated_user_has_no_permissions_and_a_superuser_all(agent_api):
    user, client = agent_api
    user.groups.clear()
    assert _permission_queries(client)[0] == 403
    user.is_superuser = True
    user.save()
    assert _permission_queries(client)[0] == 200
    user.is_active = False
    user.save()
    assert client.get(URL).status_code in (401, 403)


def test_signing_in_keeps_the_cached_permissions(agent_api, client):
    user, api = agent_api
    user.set_password("pw-for-this-test")
    user.save()
    assert _permission_queries(api) == (200, 2)
    assert (
        client.post("/login/", {"username": user.username, "password": "pw-for-this-test"}).status_code == 302
    )
    assert _permission_queries(api) == (200, 0)  # last_login was saved: nothing about permissions changed


def test_with_the_cache_down_permissions_come_from_the_database(agent_api, settings):
    from core.tests.real_worker import DEAD_BROKER

    _user, client = agent_api
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": DEAD_BROKER}
    }
    assert _permission_queries(client) == (200, 2)
    Group.objects.get(name=Role.CUSTOMER_SERVICE).permissions.clear()  # the change itself still works
    assert _permission_queries(client)[0] == 403
