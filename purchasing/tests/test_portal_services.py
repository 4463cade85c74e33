"""The supplier's actions (purchasing.portal): confirm, propose, announce a shipment, cancel it —
each only on the actor's own supplier's orders, refused with the field named and nothing written."""

from datetime import timedelta

import pytest

from core.errors import DomainError, NotPermitted, TransitionRefused
from core.timezones import business_date
from purchasing import portal, receiving, services
from purchasing.models import (
    PurchaseEvent,
    PurchaseEventKind,
    PurchaseOrderState,
    ShipmentNotice,
    ShipmentNoticeState,
)
from purchasing.tests.portal_factories import (
    draft_purchase_order,
    make_supplier,
    make_supplier_user,
    sent_purchase_order,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme():
    return make_supplier("acme", "ACME Trading")


@pytest.fixture
def acme_user(acme, django_user_model):
    return make_supplier_user(django_user_model, acme)


@pytest.fixture
def po(acme):
    return sent_purchase_order(acme, {"MUG-RED": 10, "MUG-BLUE": 4})


def lines_of(po):
    return {line.sku.code: line for line in po.lines.select_related("sku")}


def events(po, kind):
    return list(PurchaseEvent.objects.filter(purchase_order=po, kind=kind))


# --- who may act ---------------------------------------------------------------------------------


def test_another_suppliers_order_is_not_found_for_every_action(po, django_user_model):
    rival = make_supplier_user(django_user_model, make_supplier("rival"))
    line = lines_of(po)["MUG-RED"]
    calls = [
        lambda: portal.purchase_order_confirm(purchase_order_id=po.pk, actor=rival),
        lambda: portal.purchase_order_propose(
            purchase_order_id=po.pk, actor=rival, lines=[portal.LineProposal(line.pk, quantity=5)]
        ),
        lambda: portal.notice_announce(
            purchase_order_id=po.pk,
            actor=rival,
            expected_on=business_date(),
            lines=[portal.NoticeLineInput(line.pk, 1)],
        ),
    ]
    for call in calls:
        with pytest.raises(portal.NotFound) as refused:
            call()
        assert refused.value.status_code == 404 and po.number not in refused.value.message
    po.refresh_from_db()
    assert po.state == PurchaseOrderState.APPROVED and not po.has_open_proposal
    assert not ShipmentNotice.objects.exists()


def test_a_login_without_a_supplier_is_not_permitted(po, agent):
    with pytest.raises(NotPermitted):
        portal.purchase_order_confirm(purchase_order_id=po.pk, actor=agent)


def test_an_order_not_yet_sent_is_not_found_even_for_its_supplier(acme, acme_user):
    draft = draft_purchase_order(acme, {"MUG-RED": 3})
    with pytest.raises(portal.NotFound):
        portal.purchase_order_confirm(purchase_order_id=draft.pk, actor=acme_user)


def test_an_inactive_suppliers_login_may_no_longer_act(acme, acme_user, po):
    acme.is_active = False
    acme.save()
    with pytest.raises(NotPermitted):
        portal.purchase_order_confirm(purchase_order_id=po.pk, actor=acme_user)


# --- confirm -------------------------------------------------------------------------------------


def test_confirm_confirms_every_line_as_ordered_with_an_event(po, acme_user):
    portal.purchase_order_confirm(purchase_order_id=po.pk, actor=acme_user, expected_state="approved")

    po.refresh_from_db()
    assert po.state == PurchaseOrderState.CONFIRMED
    for line in lines_of(po).values():
        assert (line.confirmed_quantity, line.confirmed_on) == (line.quantity, line.expected_on)
    [event] = events(po, PurchaseEventKind.CONFIRMED)
    assert event.actor == acme_user and event.params["lines"] == 2


def test_confirm_twice_or_from_a_stale_page_is_refused(po, acme_user):
    portal.purchase_order_confirm(purchase_order_id=po.pk, actor=acme_user)
    with pytest.raises(TransitionRefused, match="cannot be confirmed"):
        portal.purchase_order_confirm(purchase_order_id=po.pk, actor=acme_user)
    with pytest.raises(TransitionRefused, match="changed meanwhile"):
        portal.purchase_order_confirm(purchase_order_id=po.pk, actor=acme_user, expected_state="approved")
    assert len(events(po, PurchaseEventKind.CONFIRMED)) == 1


def test_confirming_withdraws_the_suppliers_own_waiting_proposal(po, acme_user):
    red = lines_of(po)["MUG-RED"]
    portal.purchase_order_propose(
        purchase_order_id=po.pk, actor=acme_user, lines=[portal.LineProposal(red.pk, quantity=8)]
    )
    portal.purchase_order_confirm(purchase_order_id=po.pk, actor=acme_user)

    po.refresh_from_db()
    red.refresh_from_db()
    assert not po.has_open_proposal and red.proposed_quantity is None and red.confirmed_quantity == 10
    assert events(po, PurchaseEventKind.CONFIRMED)[0].params["withdrew_proposal"] is True


# --- propose -------------------------------------------------------------------------------------


def test_propose_other_quantities_and_dates_waits_for_the_buyer(po, acme_user):
    red, blue = lines_of(po)["MUG-RED"], lines_of(po)["MUG-BLUE"]
    later = red.expected_on + timedelta(days=5)

    portal.purchase_order_propose(
        purchase_order_id=po.pk,
        actor=acme_user,
        lines=[
            portal.LineProposal(red.pk, quantity=8, delivery_on=later),
            portal.LineProposal(blue.pk, quantity=4, delivery_on=blue.expected_on),  # as ordered
        ],
        note="Only 8 left in stock",
    )

    po.refresh_from_db()
    red.refresh_from_db()
    blue.refresh_from_db()
    assert po.has_open_proposal and po.state == PurchaseOrderState.APPROVED
    assert (red.proposed_quantity, red.proposed_on) == (8, later)
    assert (blue.proposed_quantity, blue.proposed_on) == (None, None)
    [event] = events(po, PurchaseEventKind.PROPOSED)
    assert event.params["lines"] == [
        {"sku": "MUG-RED", "quantity": [10, 8], "date": [red.expected_on.isoformat(), later.isoformat()]}
    ]
    assert event.params["reason"] == "Only 8 left in stock"


def test_a_new_proposal_replaces_the_waiting_one(po, acme_user):
    red, blue = lines_of(po)["MUG-RED"], lines_of(po)["MUG-BLUE"]
    portal.purchase_order_propose(
        purchase_order_id=po.pk, actor=acme_user, lines=[portal.LineProposal(red.pk, quantity=8)]
    )
    portal.purchase_order_propose(
        purchase_order_id=po.pk, actor=acme_user, lines=[portal.LineProposal(blue.pk, quantity=0)]
    )
    red.refresh_from_db()
    blue.refresh_from_db()
    assert red.proposed_quantity is None and blue.proposed_quantity == 0


def test_the_buyer_accepting_the_proposal_makes_it_the_order(po, acme_user):
    red = lines_of(po)["MUG-RED"]
    portal.purchase_order_propose(
        purchase_order_id=po.pk, actor=acme_user, lines=[portal.LineProposal(red.pk, quantity=6)]
    )
    services.proposal_accept(po=po.pk, actor=None)
    red.refresh_from_db()
    po.refresh_from_db()
    assert red.quantity == red.confirmed_quantity == 6 and not po.has_open_proposal
    assert po.state == PurchaseOrderState.CONFIRMED


@pytest.mark.parametrize(
    ("proposal", "field", "message"),
    [
        (lambda red: portal.LineProposal(red.pk, quantity=-1), "quantity-{red}", "cannot be negative"),
        (
            lambda red: portal.LineProposal(red.pk, delivery_on=business_date() - timedelta(days=1)),
            "date-{red}",
            "in the past",
        ),
        (lambda red: portal.LineProposal(red.pk, quantity=10), "lines", "Nothing to propose"),
        (lambda red: portal.LineProposal(red.pk + 10_000, quantity=3), "quantity-{other}", "not on purchase"),
    ],
    ids=["negative", "past-date", "nothing-changed", "foreign-line"],
)
def test_a_bad_proposal_names_its_field_and_writes_nothing(po, acme_user, proposal, field, message):
    red = lines_of(po)["MUG-RED"]
    with pytest.raises(DomainError, match=message) as refused:
        portal.purchase_order_propose(purchase_order_id=po.pk, actor=acme_user, lines=[proposal(red)])
    assert refused.value.field == field.format(red=red.pk, other=red.pk + 10_000)
    po.refresh_from_db()
    red.refresh_from_db()
    assert not po.has_open_proposal and red.proposed_quantity is None
    assert not events(po, PurchaseEventKind.PROPOSED)


def test_a_proposal_below_what_open_notices_announce_is_refused(po, acme_user):
    red = lines_of(po)["MUG-RED"]
    announce(po, acme_user, MUG_RED=6)
    with pytest.raises(DomainError, match="6 are announced on open shipment notices") as refused:
        portal.purchase_order_propose(
            purchase_order_id=po.pk, actor=acme_user, lines=[portal.LineProposal(red.pk, quantity=5)]
        )
    assert refused.value.field == f"quantity-{red.pk}"
    portal.purchase_order_propose(
        purchase_order_id=po.pk, actor=acme_user, lines=[portal.LineProposal(red.pk, quantity=6)]
    )


def test_a_confirmed_order_may_still_get_a_proposal_but_not_once_goods_arrived(po, acme_user):
    red = lines_of(po)["MUG-RED"]
    portal.purchase_order_confirm(purchase_order_id=po.pk, actor=acme_user)
    portal.purchase_order_propose(
        purchase_order_id=po.pk, actor=acme_user, lines=[portal.LineProposal(red.pk, quantity=9)]
    )
    services.proposal_reject(po=po.pk, actor=None, reason="We need all ten")

    receipt = receiving.receipt_start(po=po.pk, actor=None)
    receiving.receipt_scan(receipt=receipt, code="MUG-RED", actor=None)
    receiving.receipt_post(receipt=receipt, actor=None)

    with pytest.raises(TransitionRefused):
        portal.purchase_order_propose(
            purchase_order_id=po.pk, actor=acme_user, lines=[portal.LineProposal(red.pk, quantity=9)]
        )


# --- announce a shipment -------------------------------------------------------------------------


def announce(po, user, **quantities):
    lines = lines_of(po)
    return portal.notice_announce(
        purchase_order_id=po.pk,
        actor=user,
        expected_on=business_date() + timedelta(days=2),
        carrier="SF Express",
        tracking_number="SF1234567890",
        lines=[
            portal.NoticeLineInput(lines[code.replace("_", "-")].pk, qty) for code, qty in quantities.items()
        ],
    )


def test_announce_a_shipment_writes_the_notice_its_lines_and_an_event(po, acme_user):
    notice = announce(po, acme_user, MUG_RED=6, MUG_BLUE=0)

    assert notice.number.startswith("ASN") and notice.state == ShipmentNoticeState.ANNOUNCED
    assert notice.announced_by == acme_user and notice.tracking_number == "SF1234567890"
    assert [(line.purchase_order_line.sku.code, line.quantity) for line in notice.lines.all()] == [
        ("MUG-RED", 6)
    ]
    [event] = events(po, PurchaseEventKind.ANNOUNCED)
    assert event.params["notice"] == notice.number and event.params["units"] == 6


def test_announcing_more_than_is_still_open_is_refused_naming_the_line(po, acme_user):
    announce(po, acme_user, MUG_RED=6)
    red = lines_of(po)["MUG-RED"]

    with pytest.raises(DomainError) as refused:
        announce(po, acme_user, MUG_RED=5, MUG_BLUE=1)

    assert refused.value.field == f"announce-{red.pk}"
    assert "MUG-RED: at most 4 can still be announced" in refused.value.message
    assert ShipmentNotice.objects.count() == 1  # nothing half-written
    assert len(events(po, PurchaseEventKind.ANNOUNCED)) == 1
    announce(po, acme_user, MUG_RED=4)  # exactly what is left


def test_cancelling_a_notice_frees_its_units_to_announce_again(po, acme_user):
    notice = announce(po, acme_user, MUG_RED=10)
    portal.notice_cancel(notice_id=notice.pk, actor=acme_user, expected_state="announced")
    notice.refresh_from_db()
    assert notice.state == ShipmentNoticeState.CANCELLED
    withdrawn = po.events.get(kind=PurchaseEventKind.NOTICE_CANCELLED)  # on the order's history
    assert (withdrawn.params, withdrawn.actor) == ({"notice": notice.number}, acme_user)
    assert announce(po, acme_user, MUG_RED=10).lines.get().quantity == 10
    with pytest.raises(TransitionRefused):
        portal.notice_cancel(notice_id=notice.pk, actor=acme_user)


def test_received_units_are_no_longer_open_to_announce(po, acme_user):
    notice = announce(po, acme_user, MUG_RED=3)
    receipt = receiving.receipt_start(po=po.pk, actor=None, notice=notice)
    for _ in range(3):
        receiving.receipt_scan(receipt=receipt, code="MUG-RED", actor=None)
    receiving.receipt_post(receipt=receipt, actor=None)

    with pytest.raises(DomainError, match="at most 7"):
        announce(po, acme_user, MUG_RED=8)
    announce(po, acme_user, MUG_RED=7)
    with pytest.raises(TransitionRefused):  # received against: too late to withdraw
        portal.notice_cancel(notice_id=notice.pk, actor=acme_user)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"expected_on": None}, "expected_on"),
        ({"expected_on": "yesterday"}, "expected_on"),
        ({"carrier": "x" * 101}, "carrier"),
        ({"tracking_number": "9" * 101}, "tracking_number"),
        ({"lines": "none"}, "lines"),
        ({"lines": "negative"}, "announce-{red}"),
    ],
)
def test_a_bad_announcement_names_its_field_and_writes_nothing(po, acme_user, kwargs, field):
    red = lines_of(po)["MUG-RED"]
    arguments = {
        "purchase_order_id": po.pk,
        "actor": acme_user,
        "expected_on": business_date(),
        "lines": [portal.NoticeLineInput(red.pk, 2)],
        **kwargs,
    }
    if arguments["expected_on"] == "yesterday":
        arguments["expected_on"] = business_date() - timedelta(days=1)
    if arguments["lines"] == "none":
        arguments["lines"] = [portal.NoticeLineInput(red.pk, 0)]
    elif arguments["lines"] == "negative":
        arguments["lines"] = [portal.NoticeLineInput(red.pk, -2)]

    with pytest.raises(DomainError) as refused:
        portal.notice_announce(**arguments)

    assert refused.value.field == field.format(red=red.pk)
    assert not ShipmentNotice.objects.exists() and not events(po, PurchaseEventKind.ANNOUNCED)


def test_a_cancelled_order_takes_no_announcement(po, acme_user):
    services.purchase_order_cancel(po=po.pk, actor=None, reason="no longer needed")
    with pytest.raises(TransitionRefused, match="expects no more goods"):
        announce(po, acme_user, MUG_RED=1)


def test_another_suppliers_notice_cannot_be_cancelled(po, acme_user, django_user_model):
    notice = announce(po, acme_user, MUG_RED=2)
    rival = make_supplier_user(django_user_model, make_supplier("rival"))
    with pytest.raises(portal.NotFound):
        portal.notice_cancel(notice_id=notice.pk, actor=rival)
    notice.refresh_from_db()
    assert notice.state == ShipmentNoticeState.ANNOUNCED
