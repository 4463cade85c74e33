from datetime import timedelta
from html.parser import HTMLParser
from io import BytesIO

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from core.models import Alert, AlertState
from inventory import services
from inventory.ledger import standard_pool
from inventory.models import (
    SKU,
    ChannelPool,
    MovementKind,
    PendingRelease,
    ReleaseBreaker,
    Reservation,
    SafetyStock,
    StockBalance,
    Warehouse,
)
from orders.replenishment import replenishment_refresh
from orders.services import order_transition
from orders.tests.factories import ChannelFactory, SKUFactory, ensure_master_data, make_order, receive

pytestmark = pytest.mark.django_db


class _Tables(HTMLParser):
    """Rows of the table with a given class, as lists of cell texts (what a user reads)."""

    def __init__(self, css_class):
        super().__init__()
        self.css_class, self.depth, self.rows, self.cell = css_class, 0, [], None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and self.css_class in (dict(attrs).get("class") or "").split():
            self.depth += 1
        elif self.depth and tag == "tr":
            self.rows.append([])
        elif self.depth and tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag == "table" and self.depth:
            self.depth -= 1
        elif self.depth and tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(" ".join("".join(self.cell).split()))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def table_rows(response, css_class="grid"):
    parser = _Tables(css_class)
    parser.feed(response.content.decode())
    return [row for row in parser.rows if row]


def sku_rows(response, code):
    """Stock overview rows of one SKU (its first row carries the SKU and channel cells)."""
    rows, current = [], None
    for row in table_rows(response, "stock")[1:]:
        if row[0].split(" ")[0] in {s.code for s in SKU.objects.all()}:
            current = row[0].split(" ")[0]
        if current == code:
            rows.append(row)
    return rows


def balance(code="SKU-1", pool="regular", warehouse="WH-HZ"):
    return StockBalance.objects.get(sku__code=code, pool__code=pool, warehouse__code=warehouse)


# --- stock overview -----------------------------------------------------------------------------


def test_stock_shows_quantities_and_channel_sellable_after_an_order_reserved(client, agent):
    # given an unpaid order holding 2 × SKU-1 and a safety stock of 8 on the shop
    order = make_order()
    SafetyStock.objects.create(sku=SKU.objects.get(code="SKU-1"), channel=order.channel, quantity=8)
    client.force_login(agent)

    # when
    response = client.get(reverse("inventory:stock"), {"sku": "sku-1"})

    # then: SKU, warehouse, pool, lot, on hand, reserved, QC hold, available, shop-cn sellable
    header = table_rows(response, "stock")[0]
    assert header[-1] == "shop-cn"
    [row] = sku_rows(response, "SKU-1")
    assert row[1:] == ["WH-HZ", "regular", "—", "1000", "2", "0", "998", "990"]
    assert "SKU-2" not in response.content.decode()


def test_available_ignores_unpaid_reservations_past_their_deadline(client, agent):
    order = make_order()
    Reservation.objects.filter(order=order).update(expires_at=timezone.now() - timedelta(minutes=1))
    client.force_login(agent)

    [row] = sku_rows(client.get(reverse("inventory:stock"), {"sku": "SKU-1"}), "SKU-1")

    assert row[4:] == ["1000", "2 (−2)", "0", "1000", "1000"]


def test_stock_search_by_barcode_and_pool_filter(client, agent):
    ensure_master_data()
    SKU.objects.filter(code="SKU-2").update(barcode="6901234567892")
    client.force_login(agent)

    found = client.get(reverse("inventory:stock"), {"sku": "6901234567892"})
    assert [row[0].split(" ")[0] for row in table_rows(found, "stock")[1:]] == ["SKU-2"]

    live = client.get(reverse("inventory:stock"), {"pool": "live"})
    assert "No SKU matches." in live.content.decode()


# --- SKU ledger -------------------------------------------------------------------------------


def test_ledger_lists_receipt_and_reserve_and_a_posted_receipt_changes_on_hand(client, warehouse_user):
    order = make_order()
    client.force_login(warehouse_user)
    ledger_url = reverse("inventory:ledger", args=["SKU-1"])

    page = client.get(ledger_url)
    kinds = [row[1] for row in table_rows(page, "ledger")[1:]]
    assert kinds == ["Reserve", "Receipt"]  # newest first
    assert f'href="{order.get_absolute_url()}"' in page.content.decode()
    assert 'id="stock-change"' in page.content.decode()

    receipt = {
        "kind": "receipt",
        "warehouse": "WH-HZ",
        "pool": "",
        "quantity": 10,
        "reference": "PO-7",
        "idempotency_key": "desk-test-1",
    }
    response = client.post(reverse("inventory:stock-change", args=["SKU-1"]), receipt, follow=True)
    assert "SKU-1: +10 posted." in response.content.decode()
    assert balance().on_hand == 1010
    newest = table_rows(response, "ledger")[1]
    assert newest[1] == "Receipt" and newest[5] == "+10" and newest[8] == "PO-7"
    assert newest[10] == warehouse_user.username

    client.post(reverse("inventory:stock-change", args=["SKU-1"]), receipt)  # a double click
    assert balance().on_hand == 1010

    filtered = client.get(ledger_url, {"kind": MovementKind.RESERVE})
    assert [row[1] for row in table_rows(filtered, "ledger")[1:]] == ["Reserve"]


def test_a_refused_change_is_a_message_not_a_crash(client, warehouse_user):
    make_order()
    client.force_login(warehouse_user)
    url = reverse("inventory:stock-change", args=["SKU-1"])
    base = {"warehouse": "WH-HZ", "reference": "x", "idempotency_key": "desk-test-2"}

    wrong_sign = client.post(url, {**base, "kind": "receipt", "quantity": -5}, follow=True)
    assert "wrong sign" in wrong_sign.content.decode()

    too_many = client.post(url, {**base, "kind": "adjustment", "quantity": -999}, follow=True)
    assert "Only 998 available" in too_many.content.decode()
    assert balance().on_hand == 1000


def test_qc_hold_is_released_from_the_ledger(client, warehouse_user):
    ensure_master_data()
    sku = SKU.objects.get(code="SKU-3")
    services.stock_change(
        kind=MovementKind.RETURN, sku=sku, warehouse=Warehouse.objects.get(code="WH-HZ"), quantity=3
    )
    client.force_login(warehouse_user)
    assert 'id="qc-release"' in client.get(reverse("inventory:ledger", args=["SKU-3"])).content.decode()

    client.post(
        reverse("inventory:qc-release", args=["SKU-3"]),
        {"balance": balance("SKU-3").pk, "quantity": 3, "reference": "RMA-1"},
    )

    assert (balance("SKU-3").qc_hold, balance("SKU-3").available) == (0, 1003)


def test_roles_without_stock_rights_get_no_form_or_403(client, agent, finance_user):
    ensure_master_data()
    client.force_login(agent)
    page = client.get(reverse("inventory:ledger", args=["SKU-1"])).content.decode()
    assert 'id="stock-change"' not in page
    receipt = {
        "kind": "receipt",
        "warehouse": "WH-HZ",
        "quantity": 5,
        "reference": "x",
        "idempotency_key": "k",
    }
    assert client.post(reverse("inventory:stock-change", args=["SKU-1"]), receipt).status_code == 403
    assert client.post(reverse("inventory:transfer"), {}).status_code == 403
    assert client.get(reverse("inventory:breakers")).status_code == 403
    assert client.get(reverse("inventory:replenishment")).status_code == 403

    client.force_login(finance_user)
    for name in ("inventory:stock", "inventory:pools"):
        assert client.get(reverse(name)).status_code == 403
    assert client.get(reverse("inventory:ledger", args=["SKU-1"])).status_code == 403
    assert balance().on_hand == 1000


def test_pages_need_sign_in(client):
    assert client.get(reverse("inventory:stock")).status_code == 302


# --- pools and transfers ----------------------------------------------------------------------


def test_transfer_to_the_live_pool_feeds_the_live_channel(client, warehouse_user):
    ensure_master_data()
    live_shop = ChannelFactory(code="live-shop", name="Live room")
    ChannelPool.objects.create(channel=live_shop, pool=standard_pool("live"))
    client.force_login(warehouse_user)

    response = client.post(
        reverse("inventory:transfer"),
        {
            "sku": "SKU-1",
            "from_warehouse": "WH-HZ",
            "from_pool": "regular",
            "to_pool": "live",
            "quantity": 100,
            "reference": "live 8pm",
        },
        follow=True,
    )

    assert "100 × SKU-1 moved to WH-HZ / live." in response.content.decode()
    assert (balance().on_hand, balance(pool="live").on_hand) == (900, 100)
    pools = {row[0].split(" ")[0]: row for row in table_rows(response)[1:] if len(row) == 6}
    assert pools["Live-stream"][2] == "100"
    assert ["Live room live-shop", "Live-stream virtual warehouse / 直播虚拟仓", "1"] in table_rows(response)
    first_row = sku_rows(client.get(reverse("inventory:stock"), {"sku": "SKU-1"}), "SKU-1")[0]
    assert first_row[-2:] == ["100", "900"]  # live-shop draws from the live pool, shop-cn from regular


def test_transfer_beyond_available_is_refused_with_a_message(client, warehouse_user):
    make_order()
    client.force_login(warehouse_user)
    data = {
        "sku": "SKU-1",
        "from_warehouse": "WH-HZ",
        "from_pool": "regular",
        "to_pool": "live",
        "quantity": 999,
    }

    response = client.post(reverse("inventory:transfer"), data, follow=True)

    assert "Only 998 available to transfer." in response.content.decode()
    assert balance().on_hand == 1000
    unknown = client.post(reverse("inventory:transfer"), {**data, "sku": "NOPE"}, follow=True)
    assert "There is no stock at that position." in unknown.content.decode()


# --- release breakers -------------------------------------------------------------------------


def test_breaker_resume_applies_the_pending_releases(client, manager, warehouse_user, settings):
    # given: one release per SKU an hour, and two cancelled orders — the second one's wait
    settings.INVENTORY_RELEASE_BREAKER_LIMIT = 1
    first, second = make_order(), make_order()
    for order in (first, second):
        order_transition(order=order, name="cancel", reason="customer changed mind")
    sku = SKU.objects.get(code="SKU-1")
    assert ReleaseBreaker.objects.get(sku=sku).is_open
    assert balance().reserved == 2
    client.force_login(manager)
    page = client.get(reverse("inventory:breakers")).content.decode()
    assert "SKU-1" in page and second.number in page and first.number not in page

    # a warehouse user may not resume
    client.force_login(warehouse_user)
    assert client.post(reverse("inventory:breaker-resume", args=["SKU-1"])).status_code == 403

    # when the manager resumes
    client.force_login(manager)
    response = client.post(reverse("inventory:breaker-resume", args=["SKU-1"]), follow=True)

    # then
    assert "Releases of SKU-1 resumed; 2 units went back to stock." in response.content.decode()
    assert balance().reserved == 0
    assert not ReleaseBreaker.objects.get(sku=sku).is_open
    assert not PendingRelease.objects.filter(sku=sku, applied_at__isnull=True).exists()
    assert Alert.objects.get(key=f"release_breaker:{sku.pk}").state == AlertState.RESOLVED
    assert "SKU-2" in response.content.decode()  # still paused
    assert f'action="{reverse("inventory:breaker-resume", args=["SKU-1"])}"' not in response.content.decode()


# --- replenishment ----------------------------------------------------------------------------


def test_replenishment_export_is_a_valid_xlsx_with_formula_safe_text(client, manager):
    ensure_master_data()
    risky = SKUFactory(code="=HYPERLINK(1)", name="+cmd|' /C calc'!A0")
    receive(risky, 1)
    make_order(lines=[{"sku": risky.code, "quantity": 1, "unit_price": "10.00"}])
    assert replenishment_refresh() == 1
    client.force_login(manager)

    page = client.get(reverse("inventory:replenishment"))
    assert table_rows(page)[1] == ["=HYPERLINK(1)", "+cmd|' /C calc'!A0", "0", "0.04", "0.0", "2"]

    response = client.get(reverse("inventory:replenishment-export"))
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(BytesIO(response.content)).active
    header, row = list(sheet.iter_rows(values_only=True))
    assert header[0] == "SKU" and header[-1] == "Suggested quantity"
    assert row[0] == "'=HYPERLINK(1)" and row[1] == "'+cmd|' /C calc'!A0"
    assert row[3:] == (0, 0.04, 0, 2)
    assert all(cell.data_type != "f" for cells in sheet.iter_rows() for cell in cells)


# --- navigation and order detail --------------------------------------------------------------


def test_navigation_shows_the_screens_each_role_may_use(client, agent, manager):
    client.force_login(manager)
    nav = client.get(reverse("inventory:stock")).content.decode()
    for name in ("stock", "pools", "replenishment", "breakers"):
        assert f'href="{reverse("inventory:" + name)}"' in nav
    assert f'href="{reverse("alerts:list")}"' in nav

    client.force_login(agent)
    nav = client.get(reverse("inventory:stock")).content.decode()
    assert f'href="{reverse("inventory:stock")}"' in nav
    assert f'href="{reverse("inventory:breakers")}"' not in nav


def test_order_detail_shows_its_reservations(client, agent, finance_user):
    order = make_order()
    reservation = order.reservations.get(sku__code="SKU-1")
    client.force_login(agent)

    page = client.get(order.get_absolute_url())

    text = page.content.decode()
    assert "Stock reservations" in text
    assert [reservation.fingerprint[:8], "SKU-1", "WH-HZ", "regular", "—", "2 / 2", "Active"] == next(
        row[:7] for row in table_rows(page) if row and row[0] == reservation.fingerprint[:8]
    )
    assert reservation.fingerprint[8:] not in text

    client.force_login(finance_user)
    assert "Stock reservations" not in client.get(order.get_absolute_url()).content.decode()
