"""The B2B desk screens: each page answers 200 to who may see it and 403 to who may not; bad input
is a message or a form error on the page, never a 500."""

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from b2b import contracts
from b2b.models import Contract, ContractStatus, DeliveryStatus
from b2b.tests.factories import TODAY, account, draft, stock
from desk.navigation import desk_navigation

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def goods():
    stock("B2B-A", 500)
    stock("B2B-B", 500)


def signed_in(client, user):
    client.force_login(user)
    return client


def said(response) -> str:
    """The newest message the request left for the next page (older ones pile up unread)."""
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    return shown[-1] if shown else ""


def test_pages_answer_who_may_see_them(client, agent, warehouse_user):
    acct = account()
    contract = draft(agent, acct)
    pages = [
        reverse("b2b:accounts"),
        reverse("b2b:account", args=[acct.code]),
        reverse("b2b:contracts"),
        reverse("b2b:contracts") + "?status=draft",
        reverse("b2b:contract-create"),
        reverse("b2b:contract", args=[contract.number]),
        reverse("b2b:contract-edit", args=[contract.number]),
    ]
    signed_in(client, agent)
    for url in pages:
        assert client.get(url).status_code == 200, url
    assert client.get(reverse("b2b:contract", args=["CT-NONE"])).status_code == 404
    signed_in(client, warehouse_user)
    for url in pages:
        assert client.get(url).status_code == 403, url
    assert any(group["title"] == "B2B" for group in desk_navigation(agent))
    assert not any(group["title"] == "B2B" for group in desk_navigation(warehouse_user))


def form_post(**values):
    data = {"account": "acme", "note": ""}
    data.update(values)
    return data


def test_create_a_quotation_and_see_the_errors_of_bad_input(client, agent):
    account()
    signed_in(client, agent)
    url = reverse("b2b:contract-create")
    # a line with no price and no price list: the error is on that line's price box
    bad = client.post(
        url,
        form_post(
            line_1_sku="B2B-A", line_1_quantity="5", delivery_1_due_on="2026-03-02", delivery_1_q_1="5"
        ),
    )
    assert bad.status_code == 400
    assert "no price-list price" in str(bad.context["form"].errors["line_1_unit_price"])
    # rubbish in the boxes: form errors, nothing stored
    worse = client.post(url, form_post(line_1_sku="B2B-A", line_1_quantity="x", delivery_1_q_1="3"))
    assert worse.status_code == 400
    assert (
        worse.context["form"].errors["line_1_quantity"] and worse.context["form"].errors["delivery_1_due_on"]
    )
    good = client.post(
        url,
        form_post(
            line_1_sku="B2B-A",
            line_1_quantity="6",
            line_1_unit_price="10.00",
            line_3_sku="B2B-B",  # a gap in the rows is fine
            line_3_quantity="2",
            line_3_unit_price="5.00",
            delivery_1_due_on="2026-03-02",
            delivery_1_q_1="4",
            delivery_1_q_3="2",
            delivery_2_due_on="2026-03-20",
            delivery_2_q_1="2",
        ),
    )
    assert good.status_code == 302
    contract = Contract.objects.get()
    assert [(d.due_on.day, [dl.quantity for dl in d.lines.all()]) for d in contract.deliveries.all()] == [
        (2, [4, 2]),
        (20, [2]),
    ]
    assert "saved as a draft" in (said(good))


def test_submit_approve_and_change_the_plan_from_the_desk(
    client, agent, manager, django_capture_on_commit_callbacks
):
    contract = draft(agent)
    action = reverse("b2b:contract-action", args=[contract.number])
    signed_in(client, agent)
    response = client.post(action, {"action": "submit", "expected_status": "draft"})
    assert "submitted for approval" in (said(response))
    response = client.post(action, {"action": "approve", "expected_status": "submitted"})
    assert said(response) == "You are not allowed to approve contracts."
    signed_in(client, manager)
    waiting = client.get(contract.get_absolute_url()).content.decode()
    assert 'value="approve"' in waiting and 'value="reject"' in waiting and "data-confirm" in waiting
    stale = client.post(action, {"action": "approve", "expected_status": "draft"})
    assert "changed meanwhile" in (said(stale))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(action, {"action": "approve", "expected_status": "submitted"})
    assert "approved" in (said(response))
    contract.refresh_from_db()
    assert contract.status == ContractStatus.APPROVED
    first, second, third = contract.deliveries.order_by("seq")
    page = client.get(contract.get_absolute_url())
    assert page.status_code == 200 and first.order.number in page.content.decode()

    signed_in(client, agent)
    moved = client.post(
        reverse("b2b:move", args=[contract.number, second.pk]),
        {"due_on": (TODAY + timedelta(days=3)).isoformat(), "reason": "asked"},
    )
    assert "moved to" in (said(moved))
    no_date = client.post(
        reverse("b2b:move", args=[contract.number, second.pk]), {"due_on": "soon", "reason": "x"}
    )
    assert no_date.status_code == 302 and "Enter a valid date" in (said(no_date))
    resplit = reverse("b2b:resplit", args=[contract.number])
    too_many = client.post(
        resplit, {"line_no": "1", f"delivery_{second.pk}": "80", f"delivery_{third.pk}": "30", "reason": "x"}
    )
    assert "more than" in (said(too_many)) or "over the" in (said(too_many))
    rubbish = client.post(resplit, {"line_no": "one", "reason": "x"})
    assert rubbish.status_code == 302 and said(rubbish)
    ok = client.post(
        resplit, {"line_no": "1", f"delivery_{second.pk}": "40", f"delivery_{third.pk}": "20", "reason": "y"}
    )
    assert "re-split" in (said(ok))
    released = client.post(reverse("b2b:release", args=[contract.number, first.pk]))
    assert "released to fulfilment" in (said(released))
    refused = client.post(
        reverse("b2b:move", args=[contract.number, first.pk]), {"due_on": "2026-04-01", "reason": "late"}
    )
    assert "can no longer be changed" in (said(refused))
    cancel = client.post(reverse("b2b:cancel-rest", args=[contract.number]), {"reason": ""})
    assert said(cancel)  # the reason is required: said, not a 500
    cancel = client.post(reverse("b2b:cancel-rest", args=[contract.number]), {"reason": "site closed"})
    assert "not yet released are cancelled" in (said(cancel))
    statuses = list(contract.deliveries.order_by("seq").values_list("status", flat=True))
    assert statuses == [DeliveryStatus.RELEASED, DeliveryStatus.CANCELLED, DeliveryStatus.CANCELLED]
    assert client.get(contract.get_absolute_url()).status_code == 200


def test_a_submitted_contract_cannot_be_edited_from_the_desk(client, agent):
    contract = draft(agent)
    contracts.contract_submit(contract=contract, actor=agent)
    signed_in(client, agent)
    response = client.get(reverse("b2b:contract-edit", args=[contract.number]))
    assert response.status_code == 302 and "Only a draft" in (said(response))


def test_account_admin_names_a_missing_contact_instead_of_failing(client, django_user_model):
    from b2b.models import B2BAccount
    from b2b.tests.factories import b2b_channel

    boss = django_user_model.objects.create_superuser("boss", password="pw-for-tests-1")
    signed_in(client, boss)
    url = reverse("admin:b2b_b2baccount_add")
    assert client.get(url).status_code == 200
    values = {
        "code": "newco",
        "name": "New Co",
        "channel": b2b_channel().pk,
        "currency": "CNY",
        "credit_limit": "5000.00",
        "payment_terms_days": "30",
        "ship_country": "CN",
        "ship_city": "杭州市",
        "ship_line1": "文三路 1 号",
        "is_active": "on",
    }
    refused = client.post(url, values)
    assert refused.status_code == 200 and "valid phone number or e-mail" in refused.content.decode()
    saved = client.post(url, {**values, "contact_phone": "13900000077"})
    assert saved.status_code == 302
    account = B2BAccount.objects.get(code="newco")
    assert account.customer.identity_key == "phone:+8613900000077"
