"""A platform's own hold (canonical `platform_hold`, e.g. Douyin's 风控中): the order is taken paid
and reserved, held with the platform's reason, never routed, and released when a later version no
longer holds it — but never a hold someone else put on it first."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.errors import TransitionRefused
from orders import services
from orders.models import OrderStatus
from orders.tests.factories import make_order

pytestmark = pytest.mark.django_db

REASON = "Risk check: do not ship"


def version(minutes: int) -> str:
    return (timezone.now() - timedelta(minutes=60 - minutes)).isoformat()


def test_a_new_paid_order_the_platform_holds_is_held_paid_and_released_by_a_later_version(
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        order = make_order(external_id="P-1", updated_at=version(0), paid=True, platform_hold=REASON)

    assert (order.status, order.held_from, order.hold_reason) == (
        OrderStatus.ON_HOLD,
        OrderStatus.PAID,
        REASON,
    )
    assert order.paid_at is not None and not order.shipments.exists()
    assert services.platform_holding(order)

    with django_capture_on_commit_callbacks(execute=True):
        make_order(external_id="P-1", updated_at=version(1), paid=True)

    order.refresh_from_db()
    assert order.status in (OrderStatus.PAID, OrderStatus.ALLOCATED) and order.hold_reason == ""
    assert not services.platform_holding(order)


def test_an_unpaid_order_the_platform_then_holds_is_held_before_it_is_paid(
    django_capture_on_commit_callbacks,
):
    order = make_order(external_id="P-2", updated_at=version(0))
    assert order.status == OrderStatus.PENDING_PAYMENT

    with django_capture_on_commit_callbacks(execute=True):
        make_order(external_id="P-2", updated_at=version(1), paid=True, platform_hold=REASON)

    order.refresh_from_db()
    assert (order.status, order.held_from, order.hold_reason) == (
        OrderStatus.ON_HOLD,
        OrderStatus.PAID,
        REASON,
    )
    assert not order.shipments.exists()  # marked paid while held: not routed


def test_a_persons_hold_is_not_lifted_by_the_platform(manager):
    order = make_order(external_id="P-3", updated_at=version(0), paid=True)
    order = services.order_transition(order=order, name="hold", actor=manager, reason="Call the buyer")
    make_order(external_id="P-3", updated_at=version(1), paid=True, platform_hold=REASON)
    order.refresh_from_db()
    assert order.hold_reason == f"{REASON}; Call the buyer"
    with pytest.raises(TransitionRefused, match="platform still holds"):
        services.order_transition(order=order, name="release", actor=manager, reason="ok")

    make_order(external_id="P-3", updated_at=version(2), paid=True)  # the platform releases it

    order.refresh_from_db()
    assert (order.status, order.hold_reason) == (OrderStatus.ON_HOLD, "Call the buyer")
    order = services.order_transition(order=order, name="release", actor=manager, reason="called")
    assert order.status in (OrderStatus.PAID, OrderStatus.ALLOCATED)


def test_a_cancelled_version_cancels_a_held_order():
    order = make_order(external_id="P-4", updated_at=version(0), paid=True, platform_hold=REASON)
    make_order(external_id="P-4", updated_at=version(1), cancelled=True, platform_hold=REASON)
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
