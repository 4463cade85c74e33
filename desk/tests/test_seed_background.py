"""`make run` serves the desk before the whole demo is loaded (issue #19, item 7): `seed_demo
--ready-first N` takes every order in and takes the N most recent to their states; `--resume`,
started beside the web server, does the older ones and then the finance demo, while every page
says how much is left. A stopped resume picks up where it stopped."""

from io import StringIO
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Max, Min
from django.test import Client

from desk.management.commands import seed_demo
from desk.management.commands.seed_demo import Command
from desk.models import DemoBacklog
from finance.imports.models import ImportBatch
from finance.models import Payment
from finance.reconciliation.models import ReconciliationRun
from fulfilment.models import Shipment
from orders.models import Order, OrderStatus

pytestmark = pytest.mark.django_db

ORDERS, READY = 120, 40
INTAKE_STATES = {OrderStatus.PAID, OrderStatus.PENDING_PAYMENT, OrderStatus.ON_HOLD, OrderStatus.CANCELLED}


def _banner(language: str = "en") -> str:
    client = Client()
    client.force_login(get_user_model().objects.get(username="manager"))
    client.cookies["django_language"] = language
    page = client.get("/").content.decode()
    start = page.find('class="demo-loading"')
    return "" if start < 0 else page[start : page.index("</p>", start)]


@pytest.fixture
def ready_first():
    out = StringIO()
    call_command("seed_demo", orders=ORDERS, ready_first=READY, stdout=out)
    return out.getvalue()


def test_the_most_recent_orders_are_ready_and_the_older_ones_wait_untouched(ready_first):
    waiting = Order.objects.filter(pk__in=DemoBacklog.objects.values("order_id"))
    assert waiting.count() == ORDERS - READY
    assert DemoBacklog.objects.filter(order__isnull=True).count() == 1  # the finance step after them
    ready = Order.objects.exclude(pk__in=waiting.values("pk")).exclude(channel__code="b2b-wholesale")
    assert ready.count() == READY
    assert (
        waiting.aggregate(last=Max("placed_at"))["last"] <= ready.aggregate(first=Min("placed_at"))["first"]
    )
    # the ready ones are routed and shipped; the waiting ones are as the intake left them
    assert Shipment.objects.filter(order__in=ready).exists()
    assert "left as it is" not in ready_first  # with nobody beside it, every order reached its state
    assert ready.filter(status=OrderStatus.COMPLETED).exists()
    assert not Shipment.objects.filter(order__in=waiting).exists()
    assert set(waiting.values_list("status", flat=True)) <= INTAKE_STATES
    # finance needs every order in its state: it comes after them
    assert not Payment.objects.exists() and not ReconciliationRun.objects.exists()
    # every page says so, in the reader's language
    assert f"{ORDERS - READY} older orders are being routed and shipped" in _banner()
    assert f"还有 {ORDERS - READY} 个较早的订单" in _banner("zh-hans")


def test_resume_takes_the_older_orders_to_their_states_then_finance_and_the_banner_goes(ready_first):
    waiting = list(DemoBacklog.objects.filter(order__isnull=False).values_list("order_id", flat=True))
    out = StringIO()
    call_command("seed_demo", resume=True, stdout=out)
    assert not DemoBacklog.objects.exists()
    assert f"Loaded the other {ORDERS - READY} demo orders" in out.getvalue()
    older = Order.objects.filter(pk__in=waiting)
    assert Shipment.objects.filter(order__in=older).exists()
    assert set(older.values_list("status", flat=True)) - INTAKE_STATES  # routed, shipped, delivered…
    assert Payment.objects.exists() and ReconciliationRun.objects.get()
    assert _banner() == ""
    out = StringIO()
    call_command("seed_demo", resume=True, stdout=out)  # nothing left: does nothing
    assert out.getvalue() == ""


def test_a_stopped_resume_picks_up_where_it_stopped(ready_first):
    advance, parts = Command._advance, []

    def stop_on_the_third_part(self, part):
        parts.append(part)
        if len(parts) == 3:
            raise KeyboardInterrupt  # Ctrl-C on make run
        return advance(self, part)

    with (
        mock.patch.object(seed_demo, "ADVANCE_PART", 10),
        mock.patch.object(Command, "_advance", stop_on_the_third_part),
        pytest.raises(KeyboardInterrupt),
    ):
        call_command("seed_demo", resume=True, stdout=StringIO())
    assert DemoBacklog.objects.filter(order__isnull=False).count() == ORDERS - READY - 20
    assert "older orders are being routed" in _banner()

    call_command("seed_demo", resume=True, stdout=StringIO())
    assert not DemoBacklog.objects.exists()
    assert ReconciliationRun.objects.count() == 1 and ImportBatch.objects.count() == 1


def test_a_negative_ready_first_is_refused_before_anything_is_loaded():
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="--ready-first"):
        call_command("seed_demo", orders=10, ready_first=-5, stdout=StringIO())
    assert not Order.objects.exists()
