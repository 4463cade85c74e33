"""Events are stored as a kind with parameters and rendered in the reader's language; an old or
odd row never breaks the page."""

import pytest
from django.utils import translation

from core.roles import Role
from orders.tests.factories import WarehouseFactory
from purchasing import numbers, services
from purchasing.events import record_event, render_event
from purchasing.models import PurchaseEvent, PurchaseEventKind, PurchaseOrder
from purchasing.services import LineInput
from purchasing.tests.factories import make_item, make_supplier

pytestmark = pytest.mark.django_db


@pytest.fixture
def po(make_user):
    make_item(make_supplier("acme"), "NUT")
    return services.purchase_order_create(
        supplier=make_supplier("acme"),
        warehouse=WarehouseFactory(),
        lines=[LineInput("NUT", 2)],
        actor=make_user(Role.BUYER),
    )


def test_every_kind_renders_with_its_parameters_and_with_none(po):
    params = {
        "source": "suggestions",
        "lines": [{"sku": "NUT", "quantity": [2, 1], "date": ["2026-12-01", "2026-12-09"]}],
        "notice": "ASN1",
        "expected_on": "2026-12-09",
        "units": 3,
        "receipt": "GR1",
        "over": [{"sku": "NUT", "quantity": 1}],
        "short": [{"sku": "NUT", "quantity": 1}],
        "reason": "typed by a person",
    }
    for kind in PurchaseEventKind.values:
        for stored in (params, {}, {"lines": "not a list", "over": [None], "expected_on": "garbage"}):
            rendered = render_event(record_event(po, kind, stored, None))
            assert rendered.title and all(isinstance(line, str) for line in rendered.details)
    assert rendered.actor_label == "system"


def test_an_event_is_shown_in_the_readers_language(po):
    event = PurchaseEvent.objects.get(purchase_order=po, kind=PurchaseEventKind.CREATED)
    english = render_event(event)
    assert english.title == "Created" and "Entered by hand" in english.details
    with translation.override("zh-hans"):
        chinese = render_event(event)
        label = str(PurchaseEventKind.CREATED.label)
    assert chinese.event.params == english.event.params  # the row stores no text
    assert chinese.title == label != "Created"  # rendered from the catalogue when read


def test_an_unknown_kind_is_refused_when_recorded(po):
    with pytest.raises(ValueError, match="unknown purchase event kind"):
        record_event(po, "exploded", {}, None)


def test_document_numbers_are_per_prefix_and_increasing():
    first, second = numbers.next_number("ASN"), numbers.next_number("ASN")
    assert first.startswith("ASN") and len(first) == 17 and second > first
    assert numbers.next_number("GR")[:2] == "GR"
    with pytest.raises(ValueError):
        numbers.next_number("x'); drop")


def test_history_rows_are_append_only():
    supplier = make_supplier()
    po = PurchaseOrder.objects.create(
        number="PO-APPEND-1", supplier=supplier, warehouse=WarehouseFactory(), currency="CNY"
    )
    event = PurchaseEvent.objects.create(purchase_order=po, kind="created")
    event.params = {"changed": True}
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()
