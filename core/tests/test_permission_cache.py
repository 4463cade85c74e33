"""Permissions are read from the database once per user and version of the assignments, not on
every request, at no round trip for an API token; taking a permission away works on the very next
request however it is taken away."""

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


def test_a_token_request_checks_cached_permissions_with_no_round_trip(agent_api, monkeypatch):
    from django.core.cache import cache

    _user, client = agent_api
    assert _permission_queries(client)[0] == 200
    calls = []
    for name in ("get", "get_many", "set", "add"):
        real = getattr(cache, name)
        monkeypatch.setattr(cache, name, lambda *a, _real=real, **k: calls.append(a) or _real(*a, **k))
    with CaptureQueriesContext(connection) as queries:
        assert client.get(URL).status_code == 200
    version_reads = [q["sql"] for q in queries.captured_queries if "core_permissionsversion" in q["sql"]]
    assert len(version_reads) == 1 and "authtoken_token" in version_reads[0]  # read with the token
    assert not any("auth_permission" in q["sql"] for q in queries.captured_queries)
    assert not [call for call in calls if "permission" in str(call)]


def test_a_desk_request_reads_the_version_with_one_query(agent_api, client):
    user, _api = agent_api
    client.force_login(user)
    assert client.get("/orders/").status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/orders/").status_code == 200
    sqls = [q["sql"] for q in queries.captured_queries]
    assert sum("core_permissionsversion" in sql for sql in sqls) == 1
    assert not any("auth_permission" in sql for sql in sqls)


def test_the_new_version_commits_with_the_change_and_not_before(agent_api):
    from django.db import transaction

    from core.permission_cache import current_version

    user, client = agent_api
    before = current_version()
    with transaction.atomic():
        user.groups.clear()
        assert current_version() != before  # the same transaction sees its own change
        transaction.set_rollback(True)
    assert current_version() == before  # rolled back together with the change
    assert _permission_queries(client)[0] == 200


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


def test_with_the_cache_down_permissions_still_work_and_changes_take_effect(agent_api, settings):
    from core.tests.real_worker import DEAD_BROKER

    _user, client = agent_api
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": DEAD_BROKER}
    }
    assert _permission_queries(client)[0] == 200
    Group.objects.get(name=Role.CUSTOMER_SERVICE).permissions.clear()
    assert _permission_queries(client) == (403, 2)


def test_without_the_version_row_permissions_are_read_every_time(agent_api):
    from core.models import PermissionsVersion

    _user, client = agent_api
    PermissionsVersion.objects.all().delete()  # as after a test database flush
    assert _permission_queries(client) == (200, 2)
    assert _permission_queries(client) == (200, 2)  # nothing known under no version
    Group.objects.get(name=Role.CUSTOMER_SERVICE).permissions.clear()  # the row comes back
    assert _permission_queries(client) == (403, 2)
    Group.objects.get(name=Role.CUSTOMER_SERVICE).permissions.set(Permission.objects.all())
    assert _permission_queries(client) == (200, 2)
    assert _permission_queries(client) == (200, 0)
