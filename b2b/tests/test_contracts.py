"""Quotation → contract: prices from the price list, approval tiers, the two-person rule, the
credit limit, made-to-order lines waiting for their date."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum

from b2b import contracts, credit, events, schedule
from b2b.contracts import DeliveryInput, LineInput
from b2b.models import ContractStatus, DeliveryStatus
from b2b.tests.factories import TODAY, account, draft, price_list, senior_rule, stock
from core.errors import DomainError, NotPermitted, TransitionRefused
from inventory.models import StockBalance
from orders.models import OrderStatus
from orders.tests.factories import SKUFactory, drive_shipments

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def goods():
    stock("B2B-A", 500)
    stock("B2B-B", 500)


def test_lines_default_to_the_price_list_and_show_a_deviation(agent):
    acct = account(plist=price_list(**{"B2B-A": "12.00", "B2B-B": "25.00"}))
    contract = draft(
        agent,
        acct,
        lines=[LineInput("B2B-A", 10), LineInput("B2B-B", 4, Decimal("22.50"))],
        deliveries=[DeliveryInput(TODAY, [10, 4])],
    )
    a, b = contract.lines.all()
    assert (a.unit_price, a.deviation) == (Decimal("12.00"), None)
    assert (b.unit_price, b.list_price, b.deviation) == (Decimal("22.50"), Decimal("25.00"), Decimal("2.50"))
    assert contract.amount == Decimal("210.00")


def test_bad_draft_input_names_the_field_and_writes_nothing(agent):
    acct = account()
    with pytest.raises(DomainError) as no_price:
        draft(agent, acct, lines=[LineInput("B2B-A", 5)], deliveries=[DeliveryInput(TODAY, [5])])
    assert no_price.value.field == "line_1_unit_price"
    with pytest.raises(DomainError) as too_many:
        draft(
            agent, acct, lines=[LineInput("B2B-A", 5, Decimal("1"))], deliveries=[DeliveryInput(TODAY, [6])]
        )
    assert too_many.value.field == "line_1_quantity"
    with pytest.raises(DomainError) as mto:
        draft(agent, acct, lines=[LineInput("B2B-A", 5, Decimal("1"), made_to_order=True)])
    assert mto.value.field == "line_1_ready_on"
    assert not acct.contracts.exists()


def test_submit_needs_every_unit_scheduled(agent):
    contract = draft(
        agent, lines=[LineInput("B2B-A", 5, Decimal("1"))], deliveries=[DeliveryInput(TODAY, [4])]
    )
    with pytest.raises(DomainError, match="4 of 5 units are scheduled"):
        contracts.contract_submit(contract=contract, actor=agent)


def test_nobody_approves_their_own_contract(manager):
    contract = draft(manager)
    contracts.contract_submit(contract=contract, actor=manager)
    with pytest.raises(NotPermitted, match="Someone else"):
        contracts.contract_approve(contract=contract, actor=manager)


def test_amount_threshold_needs_a_senior_approver(agent, manager, make_user, django_user_model):
    senior_rule("1000.00")
    contract = draft(agent)  # 1,500.00
    contract = contracts.contract_submit(contract=contract, actor=agent)
    assert contract.required_tier == "senior"
    with pytest.raises(NotPermitted, match="needs a senior approver"):
        contracts.contract_approve(contract=contract, actor=manager)
    with pytest.raises(NotPermitted):
        contracts.contract_approve(contract=contract, actor=make_user("warehouse"))
    boss = django_user_model.objects.create_superuser("boss", password="pw-for-tests-1")
    contract = contracts.contract_approve(contract=contract, actor=boss)
    assert contract.status == ContractStatus.APPROVED and contract.approved_by == boss


def test_over_the_credit_limit_needs_senior_and_says_the_figures(agent, manager):
    acct = account(credit_limit="2000.00")
    first = draft(agent, acct)  # 1,500.00 within 2,000
    contracts.contract_submit(contract=first, actor=agent)
    contracts.contract_approve(contract=first, actor=manager)
    assert credit.open_exposure(acct) == Decimal("1500.00")
    second = draft(agent, acct)
    second = contracts.contract_submit(contract=second, actor=agent)
    assert second.required_tier == "senior" and second.credit_check["over"]
    with pytest.raises(NotPermitted, match=r"1500.00 \+ open 1500.00 > limit 2000.00 CNY"):
        contracts.contract_approve(contract=second, actor=manager)
    # the first one cancelled down and settled: the credit is free again
    schedule.schedule_cancel_rest(contract=first, actor=agent, reason="stop")
    assert credit.open_exposure(acct) == Decimal("0.00")
    contracts.contract_settle(contract=first, actor=manager)
    contracts.contract_reject(contract=second, actor=manager, reason="resubmit")
    second = contracts.contract_submit(contract=second, actor=agent)
    assert second.required_tier == "standard"
    contracts.contract_approve(contract=second, actor=manager)


def test_reject_returns_to_draft_and_events_render_in_the_readers_language(agent, manager):
    from django.utils import translation

    contract = draft(agent)
    contracts.contract_submit(contract=contract, actor=agent)
    with pytest.raises(DomainError):
        contracts.contract_reject(contract=contract, actor=manager, reason=" ")
    contract = contracts.contract_reject(contract=contract, actor=manager, reason="price too low")
    assert contract.status == ContractStatus.DRAFT
    event = contract.events.get(code="rejected")
    assert event.params == {"reason": "price too low"}
    assert events.describe(event) == "Reason: price too low"
    with translation.override("zh-hans"):
        assert events.describe(event)  # rendered at reading time, whatever language it is


def test_only_a_draft_is_edited_and_a_submitted_one_is_cancelled(agent, manager):
    contract = draft(agent)
    contracts.contract_submit(contract=contract, actor=agent)
    with pytest.raises(TransitionRefused, match="only a draft"):
        contracts.contract_save_draft(
            account=contract.account,
            lines=[LineInput("B2B-A", 1, Decimal("1"))],
            deliveries=[DeliveryInput(TODAY, [1])],
            actor=agent,
            contract=contract,
        )
    contract = contracts.contract_cancel(contract=contract, actor=agent, reason="lost the deal")
    assert contract.status == ContractStatus.CANCELLED
    assert set(contract.deliveries.values_list("status", flat=True)) == {DeliveryStatus.CANCELLED}


def test_made_to_order_lines_wait_for_their_date_then_for_stock(
    agent, manager, django_capture_on_commit_callbacks
):
    ready = TODAY + timedelta(days=10)
    SKUFactory(code="B2B-MTO")  # made to order: no stock until production delivers
    contract = draft(
        agent,
        lines=[LineInput("B2B-A", 5, Decimal("1")), LineInput("B2B-MTO", 3, Decimal("9"), True, ready)],
        deliveries=[DeliveryInput(TODAY, [5, 3])],
    )
    contracts.contract_submit(contract=contract, actor=agent)
    with django_capture_on_commit_callbacks(execute=True):
        contracts.contract_approve(contract=contract, actor=manager)
    delivery = contract.deliveries.get()
    # the made-to-order units are not reserved; the others are
    assert StockBalance.objects.filter(sku__code="B2B-MTO").aggregate(n=Sum("reserved"))["n"] in (0, None)
    assert StockBalance.objects.get(sku__code="B2B-A").reserved == 5
    with django_capture_on_commit_callbacks(execute=True):
        assert schedule.schedule_release_due(today=TODAY) == 0  # due, but production is not ready
        assert schedule.schedule_release_due(today=ready) == 1
    delivery.refresh_from_db()
    order = delivery.order
    order.refresh_from_db()
    assert delivery.status == DeliveryStatus.RELEASED and order.status == OrderStatus.ALLOCATED
    shipped = {line.order_line.sku.code for s in order.shipments.all() for line in s.lines.all()}
    assert shipped == {"B2B-A"}  # the made-to-order line waits for its stock (pre-sale routing)
    drive_shipments(order)
    order.refresh_from_db()
    assert order.status == OrderStatus.PARTIALLY_SHIPPED
