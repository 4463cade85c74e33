"""The supplier portal's screens: a supplier's login sees its own purchase orders and notices
and nothing else — another supplier's documents are 404s, every desk screen, the API and the
admin refuse it (the list of screens is read from the URL resolver, so a new screen is covered
without touching this file), and a desk login is refused the portal."""

from datetime import timedelta

import pytest
from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, reverse

from core.timezones import business_date
from orders.tests.factories import ensure_master_data, make_order
from purchasing import portal
from purchasing.models import PurchaseEventKind, PurchaseOrderState, ShipmentNotice
from purchasing.tests.portal_factories import (
    PASSWORD,
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
def rival():
    return make_supplier("rival", "Rival Goods")


@pytest.fixture
def rival_po(rival):
    return sent_purchase_order(rival, {"RIVAL-1": 5})


@pytest.fixture
def rival_notice(rival, rival_po, django_user_model):
    user = make_supplier_user(django_user_model, rival)
    return portal.notice_announce(
        purchase_order_id=rival_po.pk,
        actor=user,
        expected_on=business_date(),
        lines=[portal.NoticeLineInput(rival_po.lines.get().pk, 2)],
    )


@pytest.fixture
def po(acme):
    return sent_purchase_order(acme, {"MUG-RED": 10, "MUG-BLUE": 4})


@pytest.fixture
def portal_client(client, acme_user):
    client.force_login(acme_user)
    return client


def url(name, *args):
    return reverse(f"supplier_portal:{name}", args=args)


# --- the supplier's own pages --------------------------------------------------------------------


def test_the_start_page_shows_only_the_suppliers_own_sent_orders(portal_client, acme, po, rival_po):
    draft = draft_purchase_order(acme, {"MUG-GREEN": 1})

    page = portal_client.get(url("home")).content.decode()

    assert po.number in page
    assert rival_po.number not in page and "RIVAL" not in page
    assert draft.number not in page  # not sent yet: the buyer's business


def test_the_lists_show_only_the_suppliers_own_documents(
    portal_client, acme_user, po, rival_po, rival_notice
):
    mine = portal.notice_announce(
        purchase_order_id=po.pk,
        actor=acme_user,
        expected_on=business_date(),
        lines=[portal.NoticeLineInput(po.lines.first().pk, 1)],
    )
    orders = portal_client.get(url("orders")).content.decode()
    notices = portal_client.get(url("notices")).content.decode()
    assert f'data-po="{po.number}"' in orders and rival_po.number not in orders
    assert mine.number in notices and rival_notice.number not in notices
    searched = portal_client.get(url("orders"), {"q": rival_po.number}).content.decode()
    assert f'data-po="{rival_po.number}"' not in searched and "RIVAL" not in searched


def test_another_suppliers_documents_are_not_found_by_number(portal_client, rival_po, rival_notice):
    line = rival_po.lines.get()
    answers = [
        portal_client.get(url("order", rival_po.number)),
        portal_client.post(url("order-confirm", rival_po.number)),
        portal_client.post(url("order-propose", rival_po.number), {f"quantity-{line.pk}": "1"}),
        portal_client.post(
            url("notice-announce", rival_po.number),
            {"expected_on": business_date().isoformat(), f"announce-{line.pk}": "1"},
        ),
        portal_client.get(url("notice", rival_notice.number)),
        portal_client.post(url("notice-cancel", rival_notice.number)),
        portal_client.get(url("order", "PO-DOES-NOT-EXIST")),  # the same answer as a missing one
    ]
    assert [answer.status_code for answer in answers] == [404] * len(answers)
    rival_po.refresh_from_db()
    rival_notice.refresh_from_db()
    assert rival_po.state == PurchaseOrderState.APPROVED and not rival_po.has_open_proposal
    assert ShipmentNotice.objects.filter(purchase_order=rival_po).count() == 1
    assert rival_notice.state == "announced"


def test_another_suppliers_line_ids_posted_on_ones_own_order_change_nothing(portal_client, po, rival_po):
    foreign = rival_po.lines.get()
    answer = portal_client.post(
        url("notice-announce", po.number),
        {"expected_on": business_date().isoformat(), f"announce-{foreign.pk}": "2"},
    )
    assert answer.status_code == 400  # the foreign field is not read: no line of this order was entered
    assert (
        not ShipmentNotice.objects.filter(purchase_order__in=[po, rival_po])
        .exclude(purchase_order=rival_po)
        .exists()
    )


def test_confirm_from_the_order_page(portal_client, po):
    page = portal_client.get(url("order", po.number)).content.decode()
    assert "Confirm the order" in page and "MUG-RED" in page

    answer = portal_client.post(url("order-confirm", po.number), {"expected_state": "approved"}, follow=True)

    assert answer.status_code == 200
    assert "confirmed as ordered" in answer.content.decode()
    po.refresh_from_db()
    assert po.state == PurchaseOrderState.CONFIRMED


def test_propose_from_the_order_page_flags_the_order_for_the_buyer(portal_client, po):
    red = po.lines.get(sku__code="MUG-RED")
    later = (red.expected_on + timedelta(days=3)).isoformat()
    blue = po.lines.get(sku__code="MUG-BLUE")

    answer = portal_client.post(
        url("order-propose", po.number),
        {
            "expected_state": "approved",
            f"quantity-{red.pk}": "7",
            f"date-{red.pk}": later,
            f"quantity-{blue.pk}": "4",
            f"date-{blue.pk}": blue.expected_on.isoformat(),
            "note": "Seven now",
        },
        follow=True,
    )

    assert "was sent to the buyer" in answer.content.decode()
    po.refresh_from_db()
    red.refresh_from_db()
    assert po.has_open_proposal and red.proposed_quantity == 7
    home = portal_client.get(url("home")).content.decode()
    assert "Proposal waiting for the buyer" in home


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "MUG-RED quantity: enter a whole number."),
        ("-3", "cannot be negative"),
        ("9" * 30, "too large"),
    ],
)
def test_a_bad_proposal_is_shown_back_with_the_line_named_and_nothing_saved(
    portal_client, po, value, message
):
    red = po.lines.get(sku__code="MUG-RED")
    answer = portal_client.post(url("order-propose", po.number), {f"quantity-{red.pk}": value})
    assert answer.status_code == 400
    assert message in answer.content.decode()
    assert f'value="{value}"' in answer.content.decode()  # what was typed is kept
    po.refresh_from_db()
    assert not po.has_open_proposal and not po.events.filter(kind=PurchaseEventKind.PROPOSED).exists()


def test_announce_from_the_order_page_then_cancel_the_notice(portal_client, po):
    red = po.lines.get(sku__code="MUG-RED")
    answer = portal_client.post(
        url("notice-announce", po.number),
        {
            "expected_on": (business_date() + timedelta(days=1)).isoformat(),
            "carrier": "SF Express",
            "tracking_number": "SF100200300",
            f"announce-{red.pk}": "6",
        },
        follow=True,
    )
    notice = ShipmentNotice.objects.get(purchase_order=po)
    assert answer.redirect_chain[-1][0] == url("notice", notice.number)
    assert "SF100200300" in answer.content.decode()

    answer = portal_client.post(
        url("notice-cancel", notice.number), {"expected_state": "announced"}, follow=True
    )
    notice.refresh_from_db()
    assert notice.state == "cancelled" and "cancelled" in answer.content.decode()


def test_over_announcing_is_refused_on_the_page_naming_the_line(portal_client, po):
    red = po.lines.get(sku__code="MUG-RED")
    answer = portal_client.post(
        url("notice-announce", po.number),
        {"expected_on": business_date().isoformat(), f"announce-{red.pk}": "11"},
    )
    assert answer.status_code == 400
    assert "MUG-RED: at most 10 can still be announced" in answer.content.decode()
    assert not ShipmentNotice.objects.exists()


def test_a_malformed_date_is_refused_naming_the_field(portal_client, po):
    red = po.lines.get(sku__code="MUG-RED")
    answer = portal_client.post(
        url("notice-announce", po.number), {"expected_on": "31/12/2026", f"announce-{red.pk}": "1"}
    )
    assert (
        answer.status_code == 400 and "Arrival date: enter a date as YYYY-MM-DD." in answer.content.decode()
    )


def test_the_portal_speaks_the_language_the_supplier_chose(portal_client, po):
    portal_client.post(reverse("set_language"), {"language": "zh-hans", "next": url("home")})
    page = portal_client.get(url("order", po.number)).content.decode()
    assert '<html lang="zh-hans">' in page


# --- who gets in ---------------------------------------------------------------------------------


def test_a_desk_login_is_refused_the_portal_and_a_visitor_is_sent_to_sign_in(client, agent, po):
    client.force_login(agent)
    assert client.get(url("home")).status_code == 403
    assert client.get(url("order", po.number)).status_code == 403
    client.logout()
    answer = client.get(url("home"))
    assert answer.status_code == 302 and answer["Location"].startswith(reverse("login"))


def test_a_supplier_signs_in_at_the_desk_login_and_lands_on_the_portal(client, acme_user):
    answer = client.post(
        reverse("login"), {"username": acme_user.username, "password": PASSWORD}, follow=True
    )
    assert answer.redirect_chain[-1][0] == url("home")
    assert "ACME Trading" in answer.content.decode()


def parameterless_url_names(patterns=None, namespace=""):
    """Every named URL of the site (recursively through includes) that reverses without arguments."""
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from parameterless_url_names(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern) and pattern.name:
            name = f"{namespace}{pattern.name}"
            try:
                yield name, reverse(name)
            except NoReverseMatch:
                continue


# The portal itself, signing in and out, the language switch, and the monitors' health checks.
PORTAL_AND_PUBLIC = {"login", "logout", "set_language", "health", "health-live"}


def test_a_supplier_login_is_refused_every_other_screen_of_the_site(client, acme_user):
    client.force_login(acme_user)
    screens = {
        name: path
        for name, path in parameterless_url_names()
        if not name.startswith("supplier_portal:") and name not in PORTAL_AND_PUBLIC
    }
    assert {
        "desk:home",
        "orders:list",
        "inventory:stock",
        "dashboard:home",
        "admin:index",
        "order-list",
    } <= set(screens), sorted(screens)  # the walk really reaches the desk, the admin and the API

    answered = {name: client.get(path) for name, path in sorted(screens.items())}

    opened = {name: answer.status_code for name, answer in answered.items() if answer.status_code < 300}
    assert opened == {}
    redirected = {
        name: answer["Location"] for name, answer in answered.items() if answer.status_code in (301, 302)
    }
    assert set(redirected.values()) <= {url("home")}, redirected  # only ever to the portal
    assert answered["desk:home"]["Location"] == url("home")


def test_a_supplier_login_is_refused_desk_records_the_api_and_the_admin_even_if_granted_staff(
    client, acme_user, po
):
    ensure_master_data()
    order = make_order()
    acme_user.is_staff = acme_user.is_superuser = True  # a mistake in the admin must not open the desk
    acme_user.save()
    client.force_login(acme_user)
    paths = [
        f"/orders/{order.number}/",
        "/api/v1/orders/",
        f"/api/v1/orders/{order.number}/",
        "/api/v1/stock/?sku=SKU-1",
        "/admin/",
        "/admin/purchasing/purchaseorder/",
        f"/admin/purchasing/purchaseorder/{po.pk}/change/",
        "/purchasing/",
    ]
    assert {path: client.get(path).status_code for path in paths} == dict.fromkeys(paths, 403)
    assert client.post("/api/v1/orders/", {}, content_type="application/json").status_code == 403
    assert client.get(url("home")).status_code == 200


def test_a_deactivated_suppliers_portal_is_closed(portal_client, acme, po):
    acme.is_active = False
    acme.save()
    assert portal_client.get(url("home")).status_code == 403
    assert portal_client.get(url("order", po.number)).status_code == 403
    assert portal_client.get("/orders/").status_code == 403  # and still confined
