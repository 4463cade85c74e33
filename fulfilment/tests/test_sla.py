"""Order SLAs (R-O7): breach alerts, escalation when nobody takes them, resolution."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from core.models import Alert, AlertSeverity, AlertState
from fulfilment.models import SlaRule
from fulfilment.sla import sla_default_rules, sla_evaluate
from orders import services
from orders.models import OrderEvent
from orders.tests.factories import ChannelFactory, make_order

pytestmark = pytest.mark.django_db


def later(**delta):
    return timezone.now() + timedelta(**delta)


@pytest.fixture
def rule():
    return SlaRule.objects.create(
        name="Pay within 1 h",
        status="pending_payment",
        hours=Decimal("1.5"),
        role="customer_service",
        escalate_after_minutes=30,
        escalate_to="manager",
    )


def breaches(order=None):
    rows = Alert.objects.filter(kind="sla").exclude(key__endswith=":escalated")
    return rows.filter(payload__order_id=order.pk) if order else rows


def escalations():
    return Alert.objects.filter(kind="sla", key__endswith=":escalated")


def test_an_order_past_its_deadline_alerts_the_rule_role_once(rule):
    order = make_order()
    SlaRule.objects.create(name="Pay within 3 h", status="pending_payment", hours=3, role="manager")

    assert sla_evaluate(now=later(minutes=80)) == {"raised": 0, "escalated": 0, "resolved": 0}
    counts = sla_evaluate(now=later(minutes=95))
    again = sla_evaluate(now=later(minutes=96))

    assert counts["raised"] == 1 and again["raised"] == 0
    alert = breaches(order).get()
    assert (alert.role, alert.severity, alert.state, alert.occurrences) == (
        "customer_service",
        AlertSeverity.WARNING,
        AlertState.OPEN,
        1,
    )
    assert order.number in alert.message and "Pay within 1 h" in alert.message


def test_the_deadline_runs_from_the_latest_entry_into_the_status(rule):
    order = make_order()
    services.order_transition(order=order, name="hold", reason="check the address")
    # it comes back: its time in pending_payment starts again
    services.order_transition(order=order, name="release")
    entered = (
        OrderEvent.objects.filter(order=order, to_status="pending_payment").latest("created_at").created_at
    )

    sla_evaluate(now=entered + timedelta(minutes=89))
    assert not breaches(order).exists()
    sla_evaluate(now=entered + timedelta(minutes=91))
    assert breaches(order).get().payload["entered_at"] == entered.isoformat()


def test_only_the_rule_channel_and_active_rules_count(rule):
    other = ChannelFactory(code="shop-other", name="Other")
    rule.channel = other
    rule.save()
    make_order()
    SlaRule.objects.create(name="off", status="pending_payment", hours=1, role="manager", is_active=False)

    assert sla_evaluate(now=later(hours=3))["raised"] == 0


def test_an_unacknowledged_breach_escalates_once_to_the_escalation_role(rule):
    order = make_order()
    sla_evaluate(now=later(minutes=95))

    assert sla_evaluate(now=later(minutes=118))["escalated"] == 0  # breached at 90 minutes, +30
    counts = sla_evaluate(now=later(minutes=121))
    sla_evaluate(now=later(minutes=150))

    assert counts["escalated"] == 1
    base = breaches(order).get()
    escalated = escalations().get()
    assert base.escalated_at is not None
    assert (escalated.role, escalated.severity, escalated.key) == (
        "manager",
        AlertSeverity.CRITICAL,
        f"{base.key}:escalated",
    )
    assert escalated.payload["order_number"] == order.number


def test_an_acknowledged_or_taken_breach_does_not_escalate(rule, agent, client):
    first, second = make_order(), make_order()
    sla_evaluate(now=later(minutes=95))
    breaches(first).update(
        state=AlertState.ACKNOWLEDGED, acknowledged_by=agent, acknowledged_at=timezone.now()
    )
    client.force_login(agent)
    response = client.post(reverse("alerts:take", args=[breaches(second).get().pk]))

    sla_evaluate(now=later(minutes=200))

    assert response.status_code == 302
    taken = breaches(second).get()
    assert (taken.owner, taken.state, taken.acknowledged_by) == (agent, AlertState.ACKNOWLEDGED, agent)
    assert not escalations().exists()
    mine = client.get(reverse("alerts:list"), {"kind": "sla", "mine": "on"})
    assert [a.pk for a in mine.context["page"]] == [taken.pk]
    assert f"taken by {agent.get_username()}" in mine.content.decode()


def test_breaches_resolve_when_the_order_leaves_the_status(rule):
    order = make_order()
    sla_evaluate(now=later(minutes=95))
    sla_evaluate(now=later(minutes=125))
    assert escalations().count() == 1

    services.order_transition(order=order, name="mark_paid")
    counts = sla_evaluate(now=later(minutes=130))

    assert counts["resolved"] == 2
    assert set(Alert.objects.filter(kind="sla").values_list("state", flat=True)) == {AlertState.RESOLVED}


def test_a_breach_resolved_by_hand_stays_resolved_for_that_stay(rule):
    order = make_order()
    sla_evaluate(now=later(minutes=95))
    breaches(order).update(state=AlertState.RESOLVED)

    assert sla_evaluate(now=later(minutes=120))["raised"] == 0
    assert breaches(order).count() == 1


def test_deactivating_a_rule_resolves_its_alerts(rule):
    make_order()
    sla_evaluate(now=later(minutes=95))
    rule.is_active = False
    rule.save()

    assert sla_evaluate(now=later(minutes=96))["resolved"] == 1


def test_default_rules_are_created_once_and_edits_survive():
    rules = sla_default_rules()
    rules[0].hours = Decimal("3")
    rules[0].save()

    again = sla_default_rules()

    assert len(rules) == len(again) == SlaRule.objects.count() == 5
    assert SlaRule.objects.get(pk=rules[0].pk).hours == Decimal("3")
    assert {r.status for r in again} >= {"paid", "allocated", "on_hold", "shipped"}


def test_the_sla_page_counts_open_breaches_and_the_alerts_queue_filters_them(rule, client, manager):
    make_order()
    sla_evaluate(now=later(minutes=95))
    sla_evaluate(now=later(minutes=125))
    client.force_login(manager)

    page = client.get(reverse("fulfilment:sla"))
    queue = client.get(reverse("alerts:list"), {"kind": "sla"})
    other = client.get(reverse("alerts:list"), {"kind": "no_first_scan"})

    (shown,) = page.context["rules"]
    assert (shown.open_breaches, shown.escalated_breaches) == (1, 1)
    assert len(queue.context["page"].object_list) == 2
    assert len(other.context["page"].object_list) == 0


def test_an_order_already_alerted_is_not_read_again(rule):
    from django.db import connection
    from django.db.models import Exists
    from django.test.utils import CaptureQueriesContext

    from fulfilment.sla import _unresolved_breach, rule_orders

    orders = [make_order() for _ in range(3)]
    assert sla_evaluate(now=later(minutes=95))["raised"] == 3

    # the SQL key matches alert_key() exactly (entered epoch included), so they drop out of the scan
    assert set(rule_orders(rule).filter(Exists(_unresolved_breach(rule)))) == set(orders)
    with CaptureQueriesContext(connection) as ctx:
        assert sla_evaluate(now=later(minutes=96))["raised"] == 0
    assert [q["sql"] for q in ctx.captured_queries if '"key" IN (' in q["sql"]] == []
    assert {a.occurrences for a in breaches()} == {1}
