import pytest
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache
from django.urls import reverse

from core.roles import ROLE_PERMISSIONS, Role

pytestmark = pytest.mark.django_db


def test_every_role_group_exists_with_its_permissions():
    for role, codes in ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=role)
        granted = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
        if role == Role.ADMIN:
            assert len(granted) == Permission.objects.count()
        else:
            assert granted == set(codes)


def test_manager_can_do_what_every_desk_role_can():
    manager = set(ROLE_PERMISSIONS[Role.MANAGER])
    for role in (Role.CUSTOMER_SERVICE, Role.WAREHOUSE, Role.FINANCE):
        assert set(ROLE_PERMISSIONS[role]) <= manager


def test_login_page_and_sign_in(client, make_user):
    make_user(Role.CUSTOMER_SERVICE, username="agent1")
    assert client.get(reverse("login")).status_code == 200
    response = client.post(reverse("login"), {"username": "agent1", "password": "pw-for-tests-1"})
    assert response.status_code == 302
    home = client.get(reverse("desk:home"))
    assert home.status_code == 200 and "Held orders" in home.content.decode()


def test_login_is_throttled_after_repeated_failures(client, make_user, settings):
    cache.clear()
    settings.LOGIN_THROTTLE_ATTEMPTS = 3
    make_user(Role.CUSTOMER_SERVICE, username="agent2")
    for _ in range(3):
        client.post(reverse("login"), {"username": "agent2", "password": "wrong"})

    response = client.post(reverse("login"), {"username": "agent2", "password": "pw-for-tests-1"})

    assert response.status_code == 200
    assert "Too many failed sign-ins" in response.content.decode()
    cache.clear()


def test_times_show_in_the_users_zone(client, make_user):
    from orders.tests.factories import make_order

    user = make_user(Role.CUSTOMER_SERVICE)
    user.time_zone = "Europe/Berlin"
    user.save()
    order = make_order(placed_at="2026-02-16T09:30:00+08:00")
    client.force_login(user)
    page = client.get(order.get_absolute_url()).content.decode()
    assert "2026-02-16 02:30" in page  # 01:30 UTC in Berlin winter time
