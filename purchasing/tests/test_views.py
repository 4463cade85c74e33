"""The purchasing desk: who may open what (a supplier's portal login never sees a buyer screen),
bad input answered with a form error rather than a 500, and each action's message."""

from decimal import Decimal

import pytest
from django.test import override_settings
from django.urls import reverse

from core.roles import Role
from inventory.models import SKU
from orders.tests.factories import WarehouseFactory
from purchasing import receiving, services
from purchasing.models import PurchaseOrder, PurchaseOrderState, SupplierUser
from purchasing.services import LineInput
from purchasing.tests.factories import make_item, make_supplier, on_hand, suggestions_for

pytestmark = pytest.mark.django_db
S = PurchaseOrderState


@pytest.fixture
def buyer(make_user):
    return make_user(Role.BUYER)


@pytest.fixture
def po(buyer):
    supplier = make_supplier("acme")
    make_item(supplier, "NUT", "2.00", minimum_quantity=10)
    return services.purchase_order_create(
        supplier=supplier, warehouse=WarehouseFactory(), lines=[LineInput("NUT", 4)], actor=buyer
    )


def screens(po, receipt_number="GR-NONE"):
    return [
        ("get", reverse("purchasing:orders")),
        ("get", reverse("purchasing:order", args=[po.number])),
        ("get", reverse("purchasing:order-create")),
        ("get", reverse("purchasing:suppliers")),
        ("get", reverse("purchasing:supplier", args=["acme"])),
        ("get", reverse("purchasing:receiving")),
        ("get", reverse("purchasing:receipt", args=[receipt_number])),
        ("post", reverse("purchasing:from-suggestions")),
        ("post", reverse("purchasing:order-action", args=[po.number, "approve"])),
        ("post", reverse("purchasing:receiving-start")),
        ("post", reverse("purchasing:receipt-scan", args=[receipt_number])),
        ("post", reverse("purchasing:receipt-post", args=[receipt_number])),
    ]


def test_a_supplier_user_gets_403_on_every_buyer_screen_even_with_permissions(client, make_user, po):
    portal = make_user(Role.MANAGER)  # even a login that holds every buyer permission
    SupplierUser.objects.create(user=portal, supplier=po.supplier)
    client.force_login(portal)
    for method, url in screens(po):
        assert getattr(client, method)(url).status_code == 403, url


def test_a_user_without_the_permissions_gets_403_and_an_anonymous_one_the_sign_in(client, make_user, po):
    client.force_login(make_user(Role.FINANCE))
    for method, url in screens(po):
        assert getattr(client, method)(url).status_code == 403, url
    client.logout()
    response = client.get(reverse("purchasing:orders"))
    assert response.status_code == 302 and "login" in response["Location"]


def test_the_buyer_sees_the_list_filtered_and_the_detail_with_the_rounding(client, buyer, po):
    client.force_login(buyer)
    page = client.get(reverse("purchasing:orders"), {"state": "draft", "supplier": "acme"}).content.decode()
    assert po.number in page
    assert po.number not in client.get(reverse("purchasing:orders"), {"state": "approved"}).content.decode()
    assert client.get(reverse("purchasing:orders"), {"state": "bogus", "supplier": "nope"}).status_code == 200
    detail = client.get(reverse("purchasing:order", args=[po.number])).content.decode()
    assert "rounded up from 4" in detail and "Submit for approval" in detail
    assert client.get(reverse("purchasing:order", args=["PO-NOPE"])).status_code == 404


def test_creating_by_hand_shows_errors_on_the_form_and_creates_on_good_input(client, buyer, po):
    client.force_login(buyer)
    WarehouseFactory()
    SKU.objects.create(code="WIDGET", name="Widget")
    form = {
        "supplier": "acme",
        "warehouse": "WH-HZ",
        "note": "",
        "lines-TOTAL_FORMS": "3",
        "lines-INITIAL_FORMS": "0",
        "lines-0-sku": "NUT",
        "lines-0-quantity": "12",
        "lines-1-sku": "WIDGET",
        "lines-1-quantity": "1",
        "lines-2-sku": "",
    }
    response = client.post(reverse("purchasing:order-create"), form)
    assert response.status_code == 400
    assert "Line 2: supplier acme does not sell WIDGET." in response.content.decode()

    for bad in (
        {"lines-0-quantity": "abc"},
        {"lines-0-quantity": "-3"},
        {"lines-TOTAL_FORMS": "x"},
        {"supplier": "?"},
    ):
        assert client.post(reverse("purchasing:order-create"), {**form, **bad}).status_code == 400
    assert PurchaseOrder.objects.count() == 1  # only the fixture's

    form["lines-1-sku"] = ""
    form["lines-1-quantity"] = ""
    response = client.post(reverse("purchasing:order-create"), form, follow=True)
    created = PurchaseOrder.objects.exclude(pk=po.pk).get()
    assert response.redirect_chain[-1][0] == reverse("purchasing:order", args=[created.number])
    assert f"Purchase order {created.number} created as a draft: 24.00 CNY." in response.content.decode()


@override_settings(PURCHASE_APPROVAL_THRESHOLD=Decimal("1.00"))
def test_submit_approve_and_the_two_person_rule_in_the_desk(client, buyer, make_user, po):
    client.force_login(buyer)
    url = reverse("purchasing:order-action", args=[po.number, "submit"])
    page = client.post(url, {"expected_state": "draft"}, follow=True).content.decode()
    assert f"Purchase order {po.number} submitted: it waits for an approver." in page
    page = client.post(
        reverse("purchasing:order-action", args=[po.number, "approve"]),
        {"expected_state": "pending_approval"},
        follow=True,
    ).content.decode()
    assert "someone other than its creator must approve it" in page
    client.force_login(make_user(Role.MANAGER))
    page = client.post(
        reverse("purchasing:order-action", args=[po.number, "approve"]),
        {"expected_state": "pending_approval"},
        follow=True,
    ).content.decode()
    assert f"Purchase order {po.number} approved and sent to Supplier acme." in page
    po.refresh_from_db()
    assert po.state == S.APPROVED
    # a click from a stale page, and an unknown action
    stale = client.post(url, {"expected_state": "draft"}, follow=True).content.decode()
    assert "changed meanwhile" in stale or "cannot" in stale
    assert client.post(reverse("purchasing:order-action", args=[po.number, "explode"])).status_code == 404
    assert client.post(url, {"expected_state": "nonsense"}).status_code == 302


def test_the_replenishment_page_creates_purchase_orders_and_reports_orphans(client, buyer):
    bolt, lonely = suggestions_for("BOLT", "LONELY")
    make_item(make_supplier("acme"), "BOLT")
    client.force_login(buyer)
    page = client.get(reverse("inventory:replenishment")).content.decode()
    assert "Create purchase orders" in page and f'value="{bolt.pk}"' in page
    response = client.post(
        reverse("purchasing:from-suggestions"),
        {"suggestions": [bolt.pk, lonely.pk], "warehouse": "WH-HZ"},
        follow=True,
    )
    po = PurchaseOrder.objects.get()
    assert response.redirect_chain[-1][0] == reverse("purchasing:order", args=[po.number])
    text = response.content.decode()
    assert f"1 draft purchase order created: {po.number}." in text
    assert "No supplier sells LONELY" in text
    # the page now shows BOLT as on order, unticked
    assert po.number in client.get(reverse("inventory:replenishment")).content.decode()
    for bad in (
        {"suggestions": ["x"], "warehouse": "WH-HZ"},
        {"warehouse": "WH-HZ"},
        {"suggestions": [bolt.pk]},
    ):
        assert client.post(reverse("purchasing:from-suggestions"), bad).status_code == 302


def test_the_dock_scans_counts_and_posts(client, buyer, make_user, po):
    po = services.purchase_order_submit(po=po, actor=buyer)  # 20.00: approved at once
    SKU.objects.filter(code="NUT").update(barcode="6900000000011")
    client.force_login(make_user(Role.WAREHOUSE))
    listing = client.get(reverse("purchasing:receiving")).content.decode()
    assert po.number in listing
    response = client.post(reverse("purchasing:receiving-start"), {"code": po.number.lower()})
    receipt = po.receipts.get()
    assert response["Location"] == reverse("purchasing:receipt", args=[receipt.number])
    scan = reverse("purchasing:receipt-scan", args=[receipt.number])
    page = client.post(scan, {"code": "6900000000011"}, follow=True).content.decode()
    assert "NUT: 1 of 10 counted." in page
    page = client.post(scan, {"code": "WHAT"}, follow=True).content.decode()
    assert "No SKU has the barcode or code WHAT." in page
    line = receipt.lines.get()
    counts = reverse("purchasing:receipt-counts", args=[receipt.number])
    assert (
        "Enter a whole number" in client.post(counts, {f"qty-{line.pk}": "x"}, follow=True).content.decode()
    )
    client.post(counts, {f"qty-{line.pk}": "12"})
    page = client.get(reverse("purchasing:receipt", args=[receipt.number])).content.decode()
    assert "beyond the tolerance" in page  # 12 > 10 + 10 %
    page = client.post(
        reverse("purchasing:receipt-post", args=[receipt.number]), follow=True
    ).content.decode()
    assert "tolerance allows 11" in page and on_hand("NUT") == 0
    client.post(counts, {f"qty-{line.pk}": "7"})
    page = client.post(
        reverse("purchasing:receipt-post", args=[receipt.number]), follow=True
    ).content.decode()
    assert (
        f"Receipt {receipt.number} posted: 7 units into WH-HZ; {po.number} is now Partially received." in page
    )
    assert on_hand("NUT") == 7
    again = client.post(
        reverse("purchasing:receipt-post", args=[receipt.number]), follow=True
    ).content.decode()
    assert "was already posted" in again and on_hand("NUT") == 7
    assert (
        "No purchase order or notice"
        in client.post(reverse("purchasing:receiving-start"), {"code": "NOPE"}, follow=True).content.decode()
    )


def test_receipt_of_unknown_number_is_404(client, make_user):
    client.force_login(make_user(Role.WAREHOUSE))
    assert client.get(reverse("purchasing:receipt", args=["GR-NONE"])).status_code == 404


def test_a_posted_receipt_shows_as_posted(client, buyer, make_user, po):
    po = services.purchase_order_submit(po=po, actor=buyer)
    worker = make_user(Role.WAREHOUSE)
    receipt = receiving.receipt_start(po=po, actor=worker)
    receiving.receipt_scan(receipt=receipt, code="NUT", actor=worker)
    receiving.receipt_post(receipt=receipt, actor=worker)
    client.force_login(worker)
    assert "is posted" in client.get(reverse("purchasing:receipt", args=[receipt.number])).content.decode()


def test_a_draft_is_changed_on_the_form_prefilled_with_its_lines(client, buyer, po):
    client.force_login(buyer)
    url = reverse("purchasing:order-edit", args=[po.number])
    page = client.get(url).content.decode()
    assert 'value="NUT"' in page and 'value="4"' in page  # what was asked for, before rounding
    form = {"lines-TOTAL_FORMS": "2", "lines-INITIAL_FORMS": "1", "note": "more nuts"}
    form.update(
        {"lines-0-sku": "NUT", "lines-0-quantity": "15", "lines-1-sku": "BOGUS", "lines-1-quantity": "1"}
    )
    response = client.post(url, form)
    assert response.status_code == 400 and "Line 2: no SKU has the code BOGUS." in response.content.decode()
    form.update({"lines-1-sku": "", "lines-1-quantity": ""})
    page = client.post(url, form, follow=True).content.decode()
    assert f"Lines of {po.number} saved: 30.00 CNY." in page
    services.purchase_order_submit(po=po, actor=buyer)
    page = client.get(url, follow=True).content.decode()
    assert "Only a draft can be changed." in page
