"""Issue #13: /admin/login/ was not throttled (30 wrong passwords, then in), and the desk's throttle
keyed on REMOTE_ADDR alone, so behind a proxy one attacker locked everyone out. Every sign-in now
goes through django-axes, per user name + client address, the address read through the trusted
proxies (TRUSTED_PROXY_COUNT)."""

import pytest
from django.test import RequestFactory
from django.urls import reverse
from rest_framework.request import Request
from rest_framework.throttling import AnonRateThrottle

from core.client_address import client_address
from core.roles import Role

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests-1"  # conftest.make_user's
THROTTLED = "Too many failed sign-ins"


@pytest.fixture
def throttle(settings):
    settings.LOGIN_THROTTLE_ATTEMPTS = 3
    return settings


def sign_in(client, path: str, username: str, password: str, forwarded_for: str | None = None):
    extra = {"HTTP_X_FORWARDED_FOR": forwarded_for} if forwarded_for else {}
    return client.post(path, {"username": username, "password": password}, **extra)


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_admin_login_refuses_the_right_password_after_30_wrong_ones(client, make_user, settings):
    admin = make_user(Role.ADMIN, username="root")
    admin.is_staff = admin.is_superuser = True
    admin.save()
    path = reverse("admin:login")

    for _ in range(30):
        sign_in(client, path, "root", "guess")
    response = sign_in(client, path, "root", PASSWORD)

    assert not signed_in(client)
    assert THROTTLED in response.content.decode()
    assert client.get(reverse("admin:index")).status_code == 302  # still sent to the login page


def test_the_desk_login_shows_the_throttle_message_not_a_bare_403(client, make_user, throttle):
    make_user(Role.CUSTOMER_SERVICE, username="agent7")

    for _ in range(3):
        sign_in(client, reverse("login"), "agent7", "guess")
    response = sign_in(client, reverse("login"), "agent7", PASSWORD)

    assert response.status_code == 200 and not signed_in(client)
    page = response.content.decode()
    assert THROTTLED in page and "Sign in to Conduit" in page


def test_behind_a_proxy_clients_are_throttled_by_their_own_address(client, make_user, throttle):
    throttle.TRUSTED_PROXY_COUNT = 1
    make_user(Role.CUSTOMER_SERVICE, username="agent8")
    path = reverse("login")

    for _ in range(5):  # the attacker, locked out after 3
        sign_in(client, path, "agent8", "guess", forwarded_for="203.0.113.66")
    attacker = sign_in(client, path, "agent8", PASSWORD, forwarded_for="203.0.113.66")
    assert THROTTLED in attacker.content.decode() and not signed_in(client)

    # The real agent, through the same proxy (same REMOTE_ADDR), from another address.
    colleague = sign_in(client, path, "agent8", PASSWORD, forwarded_for="198.51.100.7")
    assert colleague.status_code == 302 and signed_in(client)


def test_a_locked_out_attacker_does_not_lock_out_another_user_at_the_same_address(
    client, make_user, throttle
):
    make_user(Role.CUSTOMER_SERVICE, username="victim")
    make_user(Role.CUSTOMER_SERVICE, username="bystander")
    path = reverse("login")

    for _ in range(5):
        sign_in(client, path, "victim", "guess")

    assert sign_in(client, path, "bystander", PASSWORD).status_code == 302


def test_without_trusted_proxies_a_forged_forwarded_for_does_not_escape_the_lockout(
    client, make_user, throttle
):
    make_user(Role.CUSTOMER_SERVICE, username="agent9")
    path = reverse("login")

    for n in range(3):
        sign_in(client, path, "agent9", "guess", forwarded_for=f"192.0.2.{n}")
    response = sign_in(client, path, "agent9", PASSWORD, forwarded_for="192.0.2.200")

    assert THROTTLED in response.content.decode() and not signed_in(client)


@pytest.mark.parametrize(
    ("proxies", "forwarded_for", "expected"),
    [
        (0, "198.51.100.7", "10.0.0.2"),  # nobody trusted: the header is the caller's word
        (1, "198.51.100.7", "198.51.100.7"),
        (1, "6.6.6.6, 198.51.100.7", "198.51.100.7"),  # the caller's own prefix is ignored
        (2, "6.6.6.6, 198.51.100.7, 10.0.0.9", "198.51.100.7"),  # CDN then load balancer
        (2, "198.51.100.7", "10.0.0.2"),  # too short a chain: not through our proxies
        (1, "", "10.0.0.2"),
    ],
)
def test_the_client_address_is_read_through_the_trusted_proxies(settings, proxies, forwarded_for, expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    extra = {"HTTP_X_FORWARDED_FOR": forwarded_for} if forwarded_for else {}
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", **extra)

    assert client_address(request) == expected


def test_the_api_throttle_does_not_take_a_forged_forwarded_for_either():
    request = Request(RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6"))

    assert AnonRateThrottle().get_ident(request) == "10.0.0.2"


def test_an_address_spraying_passwords_over_many_user_names_is_refused(client, make_user, throttle):
    throttle.TRUSTED_PROXY_COUNT = 1
    throttle.LOGIN_THROTTLE_ADDRESS_ATTEMPTS = 10
    make_user(Role.CUSTOMER_SERVICE, username="insider")
    make_user(Role.CUSTOMER_SERVICE, username="target")
    path = reverse("login")

    for number in range(6):  # one guess per user name: no pair comes near its limit of 3
        sign_in(client, path, f"user{number}", "guess", forwarded_for="203.0.113.9")
    # a valid account signing in from there clears its own failures, not the address's
    assert sign_in(client, path, "insider", PASSWORD, forwarded_for="203.0.113.9").status_code == 302
    client.logout()
    for number in range(6, 10):
        sign_in(client, path, f"user{number}", "guess", forwarded_for="203.0.113.9")

    sprayer = sign_in(client, path, "target", PASSWORD, forwarded_for="203.0.113.9")
    assert THROTTLED in sprayer.content.decode() and not signed_in(client)
    assert sign_in(client, path, "target", PASSWORD, forwarded_for="198.51.100.20").status_code == 302
