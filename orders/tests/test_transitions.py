import threading

import pytest
from django.db import connection, transaction
from django_fsm import ConcurrentTransition

from core.errors import NotPermitted, TransitionRefused
from core.roles import Role
from fulfilment import routing
from orders import services
from orders.models import Order, OrderEvent, OrderStatus
from orders.tests.factories import make_order, order_in_state

pytestmark = pytest.mark.django_db

S = OrderStatus
# "allocate" routes the order (fulfilment.routing); shipping and delivery are no actions:
# the order follows its shipments (test_shipments_follow.py).
ALLOWED_SOURCES = {
    "mark_paid": {S.PENDING_PAYMENT, S.ON_HOLD},  # on hold: only when held before payment
    "allocate": {S.PAID},
    "complete": {S.DELIVERED},
    "hold": {S.PENDING_PAYMENT, S.PAID, S.ALLOCATED},
    "release": {S.ON_HOLD},
    "cancel": {S.PENDING_PAYMENT, S.PAID, S.ALLOCATED, S.ON_HOLD},
}
EXPECTED_TARGET = {
    "mark_paid": S.PAID,
    "allocate": S.ALLOCATED,
    "complete": S.COMPLETED,
    "hold": S.ON_HOLD,
    "cancel": S.CANCELLED,
}
ROLES_ALLOWED = {
    "mark_paid": {Role.FINANCE, Role.MANAGER, Role.ADMIN},
    "allocate": {Role.MANAGER, Role.ADMIN},  # orders.route_order
    "complete": {Role.MANAGER, Role.ADMIN},
    "hold": {Role.CUSTOMER_SERVICE, Role.MANAGER, Role.ADMIN},
    "release": {Role.CUSTOMER_SERVICE, Role.MANAGER, Role.ADMIN},
    "cancel": {Role.CUSTOMER_SERVICE, Role.MANAGER, Role.ADMIN},
}


def test_the_tables_cover_every_transition():
    assert set(ALLOWED_SOURCES) == set(services.TRANSITIONS) == set(ROLES_ALLOWED)


def test_shipping_and_delivery_are_not_order_actions():
    assert not {"mark_partially_shipped", "mark_shipped", "mark_delivered"} & set(services.TRANSITIONS)
    order = order_in_state(S.ALLOCATED)
    with pytest.raises(Exception, match="Unknown action"):
        services.order_transition(order=order, name="mark_shipped")
    order.refresh_from_db()
    assert order.status == S.ALLOCATED


@pytest.mark.parametrize("state", S.values)
@pytest.mark.parametrize("name", sorted(ALLOWED_SOURCES))
def test_transition_sources(state, name):
    order = order_in_state(state)
    events_before = order.events.count()

    if state in ALLOWED_SOURCES[name]:
        services.order_transition(order=order, name=name, reason="because")
        order.refresh_from_db()
        expected = EXPECTED_TARGET.get(name)
        if name == "release":
            expected = order.events.filter(to_status=S.ON_HOLD).last().from_status
        if name == "mark_paid" and state == S.ON_HOLD:
            expected = S.ON_HOLD
        assert order.status == expected
        event = order.events.filter(kind="transition").last()
        assert (event.from_status, event.to_status, event.reason) == (state, expected, "because")
        assert event.payload["transition"] == name
    else:
        with pytest.raises(TransitionRefused):
            services.order_transition(order=order, name=name, reason="because")
        order.refresh_from_db()
        assert order.status == state
        assert order.events.count() == events_before


@pytest.mark.parametrize("name", sorted(ALLOWED_SOURCES))
@pytest.mark.parametrize("role", Role.values)
def test_transition_permissions(make_user, name, role):
    source = sorted(ALLOWED_SOURCES[name] - {S.ON_HOLD}) or [S.ON_HOLD]
    order = order_in_state(source[0])
    user = make_user(role)

    if role in ROLES_ALLOWED[name]:
        services.order_transition(order=order, name=name, actor=user, reason="because")
        assert order.events.filter(kind="transition").last().actor == user
    else:
        with pytest.raises(NotPermitted):
            services.order_transition(order=order, name=name, actor=user, reason="because")
        order.refresh_from_db()
        assert order.status == source[0]


def test_hold_and_release_return_to_the_state_held_from():
    for state in (S.PENDING_PAYMENT, S.PAID, S.ALLOCATED):
        order = order_in_state(state)
        services.order_transition(order=order, name="hold", reason="address has 临时")
        order = services.order_transition(order=order, name="release")
        assert order.status == state
        assert order.held_from == ""


def test_payment_while_held_is_remembered_on_release():
    order = order_in_state(S.PENDING_PAYMENT)
    services.order_transition(order=order, name="hold", reason="review")
    order = services.order_transition(order=order, name="mark_paid")
    assert (order.status, order.held_from) == (S.ON_HOLD, S.PAID)
    assert order.paid_at is not None

    order = services.order_transition(order=order, name="release")
    assert order.status == S.PAID


def test_hold_and_cancel_need_a_reason():
    order = order_in_state(S.PAID)
    for name in ("hold", "cancel"):
        with pytest.raises(Exception, match="Say why"):
            services.order_transition(order=order, name=name, reason="  ")


def test_status_cannot_be_assigned_directly():
    order = make_order()
    with pytest.raises(AttributeError):
        order.status = S.SHIPPED


def test_a_stale_page_cannot_act_on_a_newer_state():
    order = order_in_state(S.PAID)
    services.order_transition(order=order, name="cancel", reason="customer asked")

    with pytest.raises(TransitionRefused, match="changed meanwhile"):
        services.order_transition(order=order, name="hold", reason="x", expected_status=S.PAID)


def test_stale_concurrent_transition_raises_instead_of_overwriting():
    order = order_in_state(S.PAID)
    first = Order.objects.get(pk=order.pk)
    second = Order.objects.get(pk=order.pk)

    first.cancel(reason="first")
    first.save()
    second.allocate()
    with pytest.raises(ConcurrentTransition), transaction.atomic():
        second.save()

    assert Order.objects.get(pk=order.pk).status == S.CANCELLED


def test_events_are_append_only():
    event = make_order().events.first()
    event.reason = "rewritten"
    with pytest.raises(Exception, match="append-only"):
        event.save()
    with pytest.raises(Exception, match="append-only"):
        event.delete()


@pytest.mark.postgres
def test_events_are_append_only_in_the_database(on_postgres):
    order = make_order()
    with pytest.raises(Exception, match="append-only"):
        OrderEvent.objects.filter(order=order).update(reason="rewritten")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_transitions_on_one_order_apply_exactly_one(monkeypatch):
    # given a paid order (not routed on commit, as it would be here) and two workers that both
    # want to move it
    monkeypatch.setattr(routing, "route_on_commit", lambda *order_ids: None)
    order = order_in_state(S.PAID)
    barrier = threading.Barrier(2)
    outcomes = []

    def run(name, reason):
        try:
            barrier.wait()
            services.order_transition(order=order.pk, name=name, reason=reason, expected_status=S.PAID)
            outcomes.append(name)
        except TransitionRefused:
            outcomes.append("refused")
        finally:
            connection.close()

    # when cancel and allocate race
    threads = [
        threading.Thread(target=run, args=("cancel", "customer asked")),
        threading.Thread(target=run, args=("allocate", "")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then exactly one wins and the timeline has exactly one transition out of "paid"
    assert sorted(outcomes).count("refused") == 1
    order.refresh_from_db()
    assert order.status in (S.CANCELLED, S.ALLOCATED)
    assert order.events.filter(from_status=S.PAID).count() == 1
