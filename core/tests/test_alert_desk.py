import pytest
from django.urls import reverse

from core.alerts import alert_raise
from core.models import AlertState
from core.roles import Role

pytestmark = pytest.mark.django_db


def raise_alert(role, key, message):
    return alert_raise(kind="test", key=key, role=role, message=message)


def listed(client, **params):
    return client.get(reverse("alerts:list"), params).content.decode()


def test_each_role_sees_its_own_alerts_and_managers_see_all(client, agent, manager, make_user):
    raise_alert(Role.MANAGER, "breaker:1", "Releases of SKU-1 paused")
    raise_alert(Role.CUSTOMER_SERVICE, "sla:SO1", "SO1 not shipped within 24 h")

    client.force_login(agent)
    page = listed(client)
    assert "SO1 not shipped within 24 h" in page and "Releases of SKU-1 paused" not in page

    client.force_login(manager)
    page = listed(client)
    assert "SO1 not shipped within 24 h" in page and "Releases of SKU-1 paused" in page

    client.force_login(make_user(None))
    assert client.get(reverse("alerts:list")).status_code == 403


def test_acknowledge_then_resolve(client, manager):
    alert = raise_alert(Role.MANAGER, "breaker:2", "Releases of SKU-2 paused")
    client.force_login(manager)

    # when acknowledged
    response = client.post(reverse("alerts:acknowledge", args=[alert.pk]), follow=True)

    # then it leaves the open queue but stays in the default (unresolved) one
    alert.refresh_from_db()
    assert (alert.state, alert.acknowledged_by) == (AlertState.ACKNOWLEDGED, manager)
    assert "Alert acknowledged." in response.content.decode()
    assert f"acknowledged by {manager.username}" in response.content.decode()
    assert "Releases of SKU-2 paused" not in listed(client, state="open")
    assert "Releases of SKU-2 paused" in listed(client, state="acknowledged")

    again = client.post(reverse("alerts:acknowledge", args=[alert.pk]), follow=True)
    assert "This alert is not open." in again.content.decode()

    # when resolved
    client.post(reverse("alerts:resolve", args=[alert.pk]), {"next": reverse("alerts:list") + "?state=open"})

    alert.refresh_from_db()
    assert (alert.state, alert.resolved_by) == (AlertState.RESOLVED, manager)
    assert "Releases of SKU-2 paused" not in listed(client)
    assert "Releases of SKU-2 paused" in listed(client, state="resolved")
    again = client.post(reverse("alerts:resolve", args=[alert.pk]), follow=True)
    assert "already resolved" in again.content.decode()


def test_resolving_returns_to_the_list_and_ignores_foreign_redirects(client, manager):
    alert = raise_alert(Role.MANAGER, "breaker:3", "x")
    client.force_login(manager)

    response = client.post(reverse("alerts:resolve", args=[alert.pk]), {"next": "https://evil.example/"})

    assert response["Location"] == reverse("alerts:list")


def test_an_alert_of_another_role_cannot_be_worked(client, agent):
    alert = raise_alert(Role.MANAGER, "breaker:4", "Releases of SKU-4 paused")
    client.force_login(agent)

    assert client.post(reverse("alerts:acknowledge", args=[alert.pk])).status_code == 404
    assert client.post(reverse("alerts:resolve", args=[alert.pk])).status_code == 404
    alert.refresh_from_db()
    assert alert.state == AlertState.OPEN


def test_actions_are_post_only(client, manager):
    alert = raise_alert(Role.MANAGER, "breaker:5", "x")
    client.force_login(manager)
    assert client.get(reverse("alerts:acknowledge", args=[alert.pk])).status_code == 405
