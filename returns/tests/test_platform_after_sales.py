"""returns.platform_after_sales: a platform's after-sales request (canonical form, see
integrations.after_sales) creates its RMA once and moves it forward only, books the platform's
refund once, and refuses bad input naming the field without writing anything."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from core.errors import DomainError
from finance.models import RevenueKind, RevenueLine
from orders.models import OrderEvent
from orders.tests.factories import ChannelFactory, ensure_master_data
from returns import policy as policies
from returns.models import R, RefundProvider, ReturnKind, ReturnRefund, ReturnRequest
from returns.platform_after_sales import rma_sync_platform_after_sale
from returns.tests.conftest import delivered_order, line, receive_and_inspect

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 5, 12, 7, 0, tzinfo=UTC)


@pytest.fixture
def order():
    ensure_master_data()
    ChannelFactory(code="shop-pdd", platform="pdd", time_zone="Asia/Shanghai", currency="CNY")
    return delivered_order(channel="shop-pdd", external_id="260512-1")


def after_sale(state="requested", *, kind="return", minutes=0, **changes) -> dict:
    data = {
        "external_ref": "pdd:77",
        "order_external_id": "260512-1",
        "kind": kind,
        "state": state,
        "refund_amount": Decimal("54.90"),
        "currency": "CNY",
        "lines": [{"platform_line_id": None, "platform_sku_id": None, "seller_code": "SKU-1", "quantity": 1}],
        "reason": "不想要了",
        "return_carrier": "",
        "return_tracking": "",
        "updated_at": T0 + timedelta(minutes=minutes),
    }
    return {**data, **changes}


def refunds_booked(order) -> Decimal:
    lines = RevenueLine.objects.filter(order=order, kind=RevenueKind.REFUND)
    return -sum((entry.amount for entry in lines), Decimal("0.00"))


def test_a_return_request_moves_forward_with_its_waybill_and_waits_for_our_inspection(order):
    rma, created = rma_sync_platform_after_sale(order=order, after_sale=after_sale())
    assert created and rma.status == R.REQUESTED and rma.kind == ReturnKind.RETURN
    assert [(entry.order_line.line_no, entry.quantity) for entry in rma.lines.all()] == [(1, 1)]

    rma, changed = rma_sync_platform_after_sale(
        order=order,
        after_sale=after_sale("awaiting_return", minutes=5, return_carrier="SF", return_tracking="SF1234"),
    )
    assert changed and rma.status == R.AWAITING_RETURN and rma.return_tracking_number == "SF1234"

    # "returned" on the platform does not receive goods here: the warehouse does
    rma, _changed = rma_sync_platform_after_sale(order=order, after_sale=after_sale("returned", minutes=8))
    assert rma.status == R.AWAITING_RETURN

    # the platform refunds: the refund is recorded (nothing sent), the RMA still waits for the goods
    rma, _changed = rma_sync_platform_after_sale(order=order, after_sale=after_sale("refunded", minutes=9))
    refund = ReturnRefund.objects.get(rma=rma)
    assert (refund.amount, refund.provider) == (Decimal("54.90"), RefundProvider.PLATFORM)
    assert rma.status == R.AWAITING_RETURN and refunds_booked(order) == Decimal("54.90")

    # our inspection finds the refund already made: refunded, nothing booked twice
    rma = receive_and_inspect(rma, {1: {"intact": 1}})
    assert rma.status == R.REFUNDED
    assert ReturnRefund.objects.filter(rma=rma).count() == 1 and refunds_booked(order) == Decimal("54.90")


def test_never_backwards_and_a_stale_version_is_a_no_op(order):
    rma_sync_platform_after_sale(order=order, after_sale=after_sale("approved", minutes=10))
    events = OrderEvent.objects.filter(order=order).count()

    rma, changed = rma_sync_platform_after_sale(order=order, after_sale=after_sale("closed", minutes=2))

    assert not changed and rma.status == R.APPROVED
    assert OrderEvent.objects.filter(order=order).count() == events
    # the same version again changes nothing either
    rma, changed = rma_sync_platform_after_sale(order=order, after_sale=after_sale("approved", minutes=10))
    assert not changed and ReturnRequest.objects.filter(order=order).count() == 1


def test_withdrawn_cancels_and_frees_the_units(order):
    rma, _ = rma_sync_platform_after_sale(
        order=order, after_sale=after_sale(lines=[{"seller_code": "SKU-1", "quantity": 2}])
    )
    assert policies.line_allowances(order)[line(order, 1).pk].claimed == 2

    rma, changed = rma_sync_platform_after_sale(order=order, after_sale=after_sale("closed", minutes=1))

    assert changed and rma.status == R.CANCELLED
    assert policies.line_allowances(order)[line(order, 1).pk].claimed == 0
    assert rma.decision_reason.startswith("On the platform")  # why, in words


def test_rejected_on_the_platform(order):
    rma_sync_platform_after_sale(order=order, after_sale=after_sale())
    rma, _ = rma_sync_platform_after_sale(order=order, after_sale=after_sale("rejected", minutes=1))
    assert rma.status == R.REJECTED


def test_a_refund_only_request_first_seen_refunded_is_refunded_and_closed_with_its_money_once(order):
    data = after_sale("refunded", kind="refund_only", refund_amount=Decimal("212.80"), lines=[])
    rma, _ = rma_sync_platform_after_sale(order=order, after_sale=data)
    rma_sync_platform_after_sale(order=order, after_sale=data)

    assert rma.status == R.CLOSED and rma.lines.count() == 0
    assert refunds_booked(order) == Decimal("212.80")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"external_ref": "77"}, "external_ref"),
        ({"kind": "repair"}, "kind"),
        ({"state": "lost"}, "state"),
        ({"refund_amount": Decimal("1.234")}, "refund_amount"),
        ({"currency": "USD"}, "currency"),
        ({"updated_at": datetime(2026, 5, 12, 7, 0)}, "updated_at"),
        ({"lines": [{"seller_code": "SKU-1", "quantity": 0}]}, "lines"),
        ({"lines": [{"seller_code": "NOPE", "quantity": 1}]}, "lines"),
        ({"lines": [{"seller_code": "SKU-1", "quantity": 3}]}, "lines"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(order, changes, field):
    with pytest.raises(DomainError) as error:
        rma_sync_platform_after_sale(order=order, after_sale=after_sale(**changes))
    assert error.value.field == field
    assert not ReturnRequest.objects.filter(order=order).exists()


def test_a_refund_above_what_the_order_has_left_is_refused_without_half_writes(order):
    with pytest.raises(DomainError) as error:
        rma_sync_platform_after_sale(
            order=order, after_sale=after_sale("refunded", kind="refund_only", refund_amount=Decimal("21280"))
        )
    assert error.value.field == "refund_amount"
    assert not ReturnRequest.objects.filter(order=order).exists() and refunds_booked(order) == 0
