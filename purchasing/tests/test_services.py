"""Purchase orders by hand and from suggestions, approval with the two-person rule, cancel, close
short, the buyer's answer to a supplier's proposal, and the events each leaves behind."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import override_settings

from core.errors import DomainError, NotPermitted, TransitionRefused
from core.roles import Role
from core.timezones import business_date
from orders.tests.factories import SKUFactory, WarehouseFactory
from purchasing import services
from purchasing.events import render_event
from purchasing.models import PurchaseEventKind, PurchaseOrder, PurchaseOrderState
from purchasing.services import LineInput
from purchasing.tests.factories import make_item, make_supplier, suggestions_for

pytestmark = pytest.mark.django_db

S = PurchaseOrderState


@pytest.fixture
def buyer(make_user):
    return make_user(Role.BUYER)


@pytest.fixture
def acme():
    supplier = make_supplier("acme", default_lead_time_days=5)
    make_item(supplier, "BOLT", "2.50", minimum_quantity=100, pack_size=25)
    make_item(supplier, "NUT", "0.40", lead_time_days=3)
    return supplier


def by_hand(buyer, supplier, *lines, warehouse=None):
    return services.purchase_order_create(
        supplier=supplier, warehouse=warehouse or WarehouseFactory(), lines=list(lines), actor=buyer
    )


# --- by hand -------------------------------------------------------------------------------------


def test_a_po_by_hand_takes_the_suppliers_price_rounds_up_and_expects_today_plus_lead_time(buyer, acme):
    po = by_hand(buyer, acme, LineInput("BOLT", 110), LineInput("NUT", 7, unit_price=Decimal("0.35")))

    bolt, nut = po.lines.order_by("sku__code")
    # 110 → minimum 100 is met → packs of 25: 125; the rounding is kept for the page
    assert (bolt.requested_quantity, bolt.quantity, bolt.unit_price, bolt.line_amount) == (
        110,
        125,
        Decimal("2.50"),
        Decimal("312.50"),
    )
    assert (nut.quantity, nut.unit_price, nut.line_amount) == (7, Decimal("0.35"), Decimal("2.45"))
    today = business_date()
    assert bolt.expected_on == today + timedelta(days=5)  # the supplier's default lead time
    assert nut.expected_on == today + timedelta(days=3)  # the item's own
    po.refresh_from_db()
    assert (po.state, po.total_amount, po.currency, po.expected_on) == (
        S.DRAFT,
        Decimal("314.95"),
        "CNY",
        bolt.expected_on,
    )
    assert po.number.startswith("PO") and len(po.number) == 16
    (event,) = po.events.all()
    assert event.kind == PurchaseEventKind.CREATED and event.params["source"] == "hand"


def test_below_the_minimum_quantity_is_raised_to_it_in_whole_packs(buyer, acme):
    po = by_hand(buyer, acme, LineInput("BOLT", 1))
    line = po.lines.get()
    assert (line.requested_quantity, line.quantity) == (1, 100)
    assert services.round_quantity(101, line.sku.supplier_items.get()).quantity == 125


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([LineInput("NUT", 1), LineInput("WIDGET", 3)], "Line 2: supplier acme does not sell WIDGET."),
        ([LineInput("NOPE", 1)], "Line 1: no SKU has the code NOPE."),
        ([LineInput("NUT", 0)], "Line 1: the quantity must be a whole number of at least 1."),
        ([LineInput("NUT", 1), LineInput("NUT", 2)], "Line 2: SKU NUT is already on line 1."),
        ([LineInput("NUT", 1, unit_price=Decimal("-1"))], "Line 1: the unit price is not a valid amount."),
        ([], "Add at least one line."),
    ],
)
def test_bad_lines_are_refused_naming_the_line_and_nothing_is_written(buyer, acme, lines, message):
    SKUFactory(code="WIDGET")
    with pytest.raises(DomainError) as refused:
        by_hand(buyer, acme, *lines)
    assert refused.value.message == message
    assert refused.value.field == "lines"
    assert not PurchaseOrder.objects.exists()


def test_lines_priced_in_two_currencies_are_refused(buyer, acme):
    make_item(acme, "GEAR", "3.00", currency="USD")
    with pytest.raises(DomainError, match="GEAR is priced in USD, the order in CNY"):
        by_hand(buyer, acme, LineInput("NUT", 1), LineInput("GEAR", 1))


def test_a_warehouse_worker_may_not_create_purchase_orders(make_user, acme):
    with pytest.raises(NotPermitted):
        by_hand(make_user(Role.WAREHOUSE), acme, LineInput("NUT", 1))


# --- approval ------------------------------------------------------------------------------------


@override_settings(PURCHASE_APPROVAL_THRESHOLD=Decimal("1000.00"))
def test_below_the_threshold_a_buyer_who_may_approve_submits_and_approves_in_one_click(buyer, acme):
    po = by_hand(buyer, acme, LineInput("NUT", 10))
    po = services.purchase_order_submit(po=po, actor=buyer, expected_state=S.DRAFT)
    assert po.state == S.APPROVED and po.approved_by == buyer
    kinds = list(po.events.values_list("kind", flat=True))
    assert kinds == [PurchaseEventKind.CREATED, PurchaseEventKind.SUBMITTED, PurchaseEventKind.APPROVED]
    assert "approved on submission" in " ".join(render_event(po.events.last()).details)


@override_settings(PURCHASE_APPROVAL_THRESHOLD=Decimal("100.00"))
def test_at_the_threshold_the_creator_cannot_approve_but_another_buyer_can(buyer, make_user, acme):
    po = by_hand(buyer, acme, LineInput("NUT", 250))  # 250 × 0.40 = 100.00: at the threshold
    po = services.purchase_order_submit(po=po, actor=buyer)
    assert po.state == S.PENDING_APPROVAL

    with pytest.raises(NotPermitted, match="someone other than its creator must approve"):
        services.purchase_order_approve(po=po, actor=buyer)
    po.refresh_from_db()
    assert po.state == S.PENDING_APPROVAL

    second = make_user(Role.MANAGER)
    po = services.purchase_order_approve(po=po, actor=second, expected_state=S.PENDING_APPROVAL)
    assert (po.state, po.approved_by) == (S.APPROVED, second)


@override_settings(PURCHASE_APPROVAL_THRESHOLD=Decimal("1000000.00"), BUSINESS_CURRENCY="CNY")
def test_a_po_in_another_currency_always_needs_a_second_person(buyer, make_user):
    supplier = make_supplier("usco", currency="USD")
    make_item(supplier, "CHIP", "1.00", currency="USD")
    po = by_hand(buyer, supplier, LineInput("CHIP", 1))
    assert po.currency == "USD"
    po = services.purchase_order_submit(po=po, actor=buyer)
    assert po.state == S.PENDING_APPROVAL
    with pytest.raises(NotPermitted):
        services.purchase_order_approve(po=po, actor=buyer)


def test_reject_sends_it_back_to_draft_with_the_reason_and_needs_one(buyer, make_user, acme):
    po = services.purchase_order_submit(po=by_hand(buyer, acme, LineInput("BOLT", 100000)), actor=buyer)
    manager = make_user(Role.MANAGER)
    with pytest.raises(DomainError, match="Say why"):
        services.purchase_order_reject(po=po, actor=manager, reason=" ")
    po = services.purchase_order_reject(po=po, actor=manager, reason="Too many bolts")
    assert po.state == S.DRAFT
    rendered = render_event(po.events.last())
    assert rendered.title == "Rejected" and "Reason: Too many bolts" in rendered.details


def test_a_stale_page_is_refused(buyer, acme):
    po = by_hand(buyer, acme, LineInput("NUT", 1))
    services.purchase_order_submit(po=po, actor=buyer)
    with pytest.raises(TransitionRefused, match="changed meanwhile"):
        services.purchase_order_submit(po=po, actor=buyer, expected_state=S.DRAFT)


def test_cancel_and_what_cannot_be_done_after(buyer, acme):
    po = by_hand(buyer, acme, LineInput("NUT", 1))
    po = services.purchase_order_cancel(po=po, actor=buyer, reason="Duplicate")
    assert po.state == S.CANCELLED
    with pytest.raises(TransitionRefused):
        services.purchase_order_submit(po=po, actor=buyer)


# --- from suggestions ----------------------------------------------------------------------------


def test_suggestions_become_one_draft_per_supplier_preferred_else_cheapest_and_orphans_are_reported(buyer):
    bolt, gear, lonely, nut = suggestions_for("BOLT", "NUT", "GEAR", "LONELY")  # by SKU code
    acme, bestco = make_supplier("acme", default_lead_time_days=5), make_supplier("bestco")
    make_item(acme, "BOLT", "2.00", pack_size=12)
    make_item(bestco, "BOLT", "1.50")  # cheaper, but…
    SKUFactory(code="BOLT").supplier_items.filter(supplier=acme).update(
        is_preferred=True
    )  # …acme is preferred
    make_item(acme, "NUT", "0.50")
    make_item(bestco, "NUT", "0.45", lead_time_days=2)  # cheapest
    make_item(bestco, "GEAR", "9.00")

    result = services.purchase_orders_from_suggestions(
        suggestion_ids=[bolt.pk, nut.pk, gear.pk, lonely.pk], warehouse=WarehouseFactory(), actor=buyer
    )

    assert result.no_supplier == ["LONELY"]
    assert [po.supplier.code for po in result.created] == ["acme", "bestco"]
    acme_po, best_po = result.created
    line = acme_po.lines.get()
    assert (line.sku.code, line.suggestion, line.requested_quantity, line.quantity) == ("BOLT", bolt, 30, 36)
    assert line.expected_on == business_date() + timedelta(days=5)
    assert sorted(best_po.lines.values_list("sku__code", "suggestion_id")) == [
        ("GEAR", gear.pk),
        ("NUT", nut.pk),
    ]
    assert best_po.lines.get(sku__code="NUT").expected_on == business_date() + timedelta(days=2)
    assert all(po.state == S.DRAFT and po.created_by == buyer for po in result.created)


def test_a_suggestion_already_on_an_open_po_is_not_ordered_twice(buyer):
    (bolt,) = suggestions_for("BOLT")
    make_item(make_supplier("acme"), "BOLT")
    first = services.purchase_orders_from_suggestions(
        suggestion_ids=[bolt.pk], warehouse=WarehouseFactory(), actor=buyer
    )
    again = services.purchase_orders_from_suggestions(
        suggestion_ids=[bolt.pk], warehouse=WarehouseFactory(), actor=buyer
    )
    assert again.created == [] and again.already_ordered == {"BOLT": first.created[0].number}

    # once that order is cancelled, the suggestion may be ordered again
    services.purchase_order_cancel(po=first.created[0], actor=buyer)
    third = services.purchase_orders_from_suggestions(
        suggestion_ids=[bolt.pk], warehouse=WarehouseFactory(), actor=buyer
    )
    assert len(third.created) == 1


def test_no_suggestions_chosen_is_a_clear_error(buyer):
    with pytest.raises(DomainError, match="Choose at least one suggestion"):
        services.purchase_orders_from_suggestions(
            suggestion_ids=[], warehouse=WarehouseFactory(), actor=buyer
        )
    with pytest.raises(DomainError, match="no longer exist"):
        services.purchase_orders_from_suggestions(
            suggestion_ids=[987654], warehouse=WarehouseFactory(), actor=buyer
        )


# --- proposals -----------------------------------------------------------------------------------


def _approved(buyer, supplier, *lines):
    po = services.purchase_order_submit(po=by_hand(buyer, supplier, *lines), actor=None)
    return services.purchase_order_approve(po=po, actor=None)


def _propose(po, sku, quantity=None, on=None):
    """What the supplier portal writes: proposed values on the line and the flag on the order."""
    po.lines.filter(sku__code=sku).update(proposed_quantity=quantity, proposed_on=on)
    PurchaseOrder.objects.filter(pk=po.pk).update(has_open_proposal=True)
    po.refresh_from_db()


def test_accepting_a_proposal_makes_its_quantities_and_dates_the_confirmed_ones(buyer, acme):
    po = _approved(buyer, acme, LineInput("NUT", 10), LineInput("BOLT", 100))
    later = business_date() + timedelta(days=20)
    _propose(po, "NUT", quantity=8, on=later)

    po = services.proposal_accept(po=po, actor=buyer)

    nut, bolt = po.lines.get(sku__code="NUT"), po.lines.get(sku__code="BOLT")
    assert (nut.quantity, nut.confirmed_quantity, nut.expected_on, nut.confirmed_on) == (8, 8, later, later)
    assert (nut.proposed_quantity, nut.proposed_on, nut.line_amount) == (None, None, Decimal("3.20"))
    assert bolt.confirmed_quantity == 100  # left alone: confirmed as ordered
    po.refresh_from_db()
    assert po.has_open_proposal is False and po.state == S.CONFIRMED
    assert po.total_amount == Decimal("253.20")
    accepted = po.events.get(kind=PurchaseEventKind.PROPOSAL_ACCEPTED)
    assert accepted.params["lines"][0]["quantity"] == [10, 8]
    assert "NUT: quantity 10 → 8" in render_event(accepted).details[0]


def test_rejecting_a_proposal_keeps_the_order_as_it_was(buyer, acme):
    po = _approved(buyer, acme, LineInput("NUT", 10))
    _propose(po, "NUT", quantity=4)
    po = services.proposal_reject(po=po, actor=buyer, reason="We need all ten")
    line = po.lines.get()
    assert (line.quantity, line.proposed_quantity, line.confirmed_quantity) == (10, None, None)
    po.refresh_from_db()
    assert po.has_open_proposal is False and po.state == S.APPROVED
    with pytest.raises(DomainError, match="no proposal waiting"):
        services.proposal_reject(po=po, actor=buyer)


# --- changing a draft ----------------------------------------------------------------------------


def test_a_rejected_order_is_changed_as_a_draft_keeping_its_suggestion_links(buyer, make_user):
    (bolt,) = suggestions_for("BOLT")
    acme = make_supplier("acme")
    make_item(acme, "BOLT", "2.00")
    make_item(acme, "NUT", "1.00")
    (po,) = services.purchase_orders_from_suggestions(
        suggestion_ids=[bolt.pk], warehouse=WarehouseFactory(), actor=buyer
    ).created
    services.purchase_order_submit(po=po, actor=buyer)  # 60.00: approved at once under 10,000
    with pytest.raises(TransitionRefused, match="only a draft can be changed"):
        services.purchase_order_update(po=po, lines=[LineInput("BOLT", 1)], actor=buyer)

    draft = services.purchase_order_create(
        supplier=acme, warehouse=WarehouseFactory(), lines=[LineInput("BOLT", 30)], actor=buyer
    )
    draft.lines.update(suggestion=bolt)
    with pytest.raises(DomainError, match="Line 2: no SKU has the code GHOST"):
        services.purchase_order_update(
            po=draft, lines=[LineInput("BOLT", 1), LineInput("GHOST", 1)], actor=buyer
        )
    assert draft.lines.get().quantity == 30  # nothing half-written

    draft = services.purchase_order_update(
        po=draft, lines=[LineInput("BOLT", 20), LineInput("NUT", 5)], actor=buyer, note="split"
    )
    assert sorted(draft.lines.values_list("sku__code", "quantity", "suggestion_id")) == [
        ("BOLT", 20, bolt.pk),
        ("NUT", 5, None),
    ]
    assert (draft.total_amount, draft.note) == (Decimal("45.00"), "split")
    edited = draft.events.get(kind=PurchaseEventKind.EDITED)
    assert render_event(edited).details[:2] == ["BOLT: quantity 30 → 20", "NUT: quantity 0 → 5"]
    with pytest.raises(NotPermitted):
        services.purchase_order_update(po=draft, lines=[LineInput("NUT", 1)], actor=make_user(Role.WAREHOUSE))
