"""The Operations page: for managers and administrators, in their navigation; refused to others."""

import pytest
from django.urls import reverse

from core.roles import Role
from desk.navigation import desk_navigation
from ops.heartbeats import BEAT, heartbeat_record
from ops.task_outcomes import RETRIED, SUCCEEDED, task_outcome_record
from orders.tests.factories import order_in_state

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def in_memory_broker(monkeypatch):
    monkeypatch.setenv("CELERY_BROKER_URL", "memory://")


def test_the_page_renders_for_a_manager_with_every_section(client, manager):
    heartbeat_record(BEAT)
    task_outcome_record("fulfilment.route_order", SUCCEEDED)
    task_outcome_record("fulfilment.route_order", RETRIED)
    order_in_state("allocated")
    client.force_login(manager)

    response = client.get(reverse("ops:overview"))

    assert response.status_code == 200
    page = response.content.decode()
    for heading in ("Health", "Task outcomes", "Waiting in the database", "Lock waits", "Channel sync lag"):
        assert heading in page
    assert "fulfilment.route_order" in page
    assert "2 outcomes: 50.0 % retried, 0.0 % failed" in page
    assert "Time in each order state" in page and "Pending payment" in page


def test_the_page_speaks_the_users_language(client, manager):
    client.force_login(manager)

    response = client.get(reverse("ops:overview"), HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert response.status_code == 200
    assert '<html lang="zh-hans">' in response.content.decode()


def test_an_agent_is_refused_and_a_stranger_sent_to_sign_in(client, agent):
    assert client.get(reverse("ops:overview")).status_code == 302

    client.force_login(agent)
    assert client.get(reverse("ops:overview")).status_code == 403


def test_the_navigation_offers_the_page_to_managers_and_administrators_only(make_user):
    def links(user):
        return [link["url"] for group in desk_navigation(user) for link in group["links"]]

    url = reverse("ops:overview")
    assert url in links(make_user(Role.MANAGER))
    assert url in links(make_user(Role.ADMIN))
    assert url not in links(make_user(Role.CUSTOMER_SERVICE))
    assert url not in links(make_user(Role.FINANCE))
