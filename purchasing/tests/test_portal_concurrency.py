"""Announcements arriving at the same moment, on real parallel connections (PostgreSQL): the
units announced on a line never exceed what is open on it, however many announce at once."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Sum

from core.errors import DomainError
from core.timezones import business_date
from purchasing import portal
from purchasing.models import PurchaseEvent, PurchaseEventKind, ShipmentNotice, ShipmentNoticeLine
from purchasing.tests.portal_factories import make_supplier, make_supplier_user, sent_purchase_order

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_at_once(targets):
    """Start every target at the same instant on its own connection; results and refusals."""
    barrier = threading.Barrier(len(targets))
    results, refusals, errors = [], [], []

    def run(target):
        try:
            barrier.wait()
            results.append(target())
        except DomainError as exc:
            refusals.append(exc)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(target,)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results, refusals


@pytest.fixture
def setting(django_user_model):
    supplier = make_supplier("acme")
    po = sent_purchase_order(supplier, {"MUG-RED": 10, "MUG-BLUE": 10})
    users = [make_supplier_user(django_user_model, supplier, f"acme-{n}") for n in range(4)]
    lines = {line.sku.code: line for line in po.lines.select_related("sku")}
    return po, users, lines


def announce(po, user, lines):
    return lambda: portal.notice_announce(
        purchase_order_id=po.pk,
        actor=user,
        expected_on=business_date() + timedelta(days=1),
        lines=[portal.NoticeLineInput(line_id, quantity) for line_id, quantity in lines],
    )


def announced(line) -> int:
    return ShipmentNoticeLine.objects.filter(purchase_order_line=line).aggregate(n=Sum("quantity"))["n"] or 0


def test_two_announcements_at_once_never_over_announce_a_line(setting):
    po, users, lines = setting
    red = lines["MUG-RED"]

    notices, refusals = run_at_once([announce(po, user, [(red.pk, 6)]) for user in users[:2]])

    assert len(notices) == 1 and len(refusals) == 1
    assert refusals[0].field == f"announce-{red.pk}" and "at most 4" in refusals[0].message
    assert announced(red) == 6
    assert ShipmentNotice.objects.count() == 1
    assert PurchaseEvent.objects.filter(purchase_order=po, kind=PurchaseEventKind.ANNOUNCED).count() == 1


def test_many_announcements_at_once_fill_the_lines_exactly(setting):
    po, users, lines = setting
    red, blue = lines["MUG-RED"], lines["MUG-BLUE"]
    # four suppliers' clerks, each announcing 3 red and 4 blue: only two fit on blue (8 of 10)
    # and three on red (9 of 10); a notice is all or nothing, so two notices are written.
    notices, refusals = run_at_once([announce(po, user, [(red.pk, 3), (blue.pk, 4)]) for user in users])

    assert len(notices) == 2 and len(refusals) == 2
    assert announced(red) == 6 and announced(blue) == 8
    assert all(refusal.field == f"announce-{blue.pk}" for refusal in refusals)
    assert len({notice.number for notice in notices}) == 2
