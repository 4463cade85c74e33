"""The returns desk: the order's Returns panel, creating an RMA, the queue per role, detail with
timeline and role-aware actions, the scanner receiving screen and inspection, and metrics."""

import pytest
from django.urls import reverse

from orders.tests.factories import WarehouseFactory
from returns import decisions, opening
from returns.models import ReturnPolicy, ReturnRequest, ReturnStatus
from returns.tests.conftest import delivered_order, line, receive_and_inspect, request_return

pytestmark = pytest.mark.django_db


@pytest.fixture
def order():
    return delivered_order()


def signed_in(client, user):
    client.force_login(user)
    return client


def test_the_order_detail_offers_to_create_an_rma(client, agent, order):
    page = signed_in(client, agent).get(order.get_absolute_url()).content.decode()

    assert 'id="returns"' in page and reverse("returns:create", args=[order.number]) in page


def test_an_agent_opens_an_rma_from_the_desk(client, agent, order):
    response = signed_in(client, agent).post(
        reverse("returns:create", args=[order.number]),
        {
            "kind": "return",
            "reason": "damaged",
            f"qty_{line(order, 2).pk}": "1",
            "description": "box crushed",
        },
    )

    rma = ReturnRequest.objects.get(order=order)
    assert response.status_code == 302 and response.url == rma.get_absolute_url()
    assert (rma.status, rma.requested_by, rma.approved_by) == (ReturnStatus.APPROVED, agent, agent)
    assert rma.contact_phone == order.customer_phone  # defaults to the order's customer


def test_the_create_page_shows_the_self_service_link(client, agent, order):
    page = signed_in(client, agent).get(reverse("returns:create", args=[order.number])).content.decode()

    assert "/r/" in page


def test_each_role_starts_from_its_own_queue(client, agent, warehouse_user, order):
    ReturnPolicy.objects.create(auto_approve=False)
    waiting = request_return(order, (1, 1))
    approved = decisions.rma_approve(rma=request_return(order, (2, 1)), actor=agent)

    agent_page = signed_in(client, agent).get(reverse("returns:list")).content.decode()
    warehouse_page = signed_in(client, warehouse_user).get(reverse("returns:list")).content.decode()

    assert waiting.number in agent_page and approved.number in agent_page
    assert approved.number in warehouse_page and waiting.number not in warehouse_page
    filtered = client.get(reverse("returns:list"), {"status": "requested"}).content.decode()
    assert waiting.number in filtered and approved.number not in filtered
    searched = client.get(reverse("returns:list"), {"search": waiting.number}).content.decode()
    assert waiting.number in searched and approved.number not in searched


def test_the_detail_page_shows_the_timeline_and_only_the_actions_of_the_role(
    client, agent, warehouse_user, order
):
    ReturnPolicy.objects.create(auto_approve=False)
    rma = request_return(order, (1, 1), actor=agent)

    agent_page = signed_in(client, agent).get(rma.get_absolute_url()).content.decode()
    warehouse_page = signed_in(client, warehouse_user).get(rma.get_absolute_url()).content.decode()

    assert "action-approve" in agent_page and "action-reject" in agent_page
    assert "requested (Return for a refund, No reason (changed mind))" in agent_page  # the timeline
    assert "action-approve" not in warehouse_page


def test_a_warehouse_user_cannot_approve_by_posting_anyway(client, warehouse_user, order):
    ReturnPolicy.objects.create(auto_approve=False)
    rma = request_return(order, (1, 1))

    response = signed_in(client, warehouse_user).post(
        reverse("returns:decide", args=[rma.number]),
        {"action": "approve", "expected_status": "requested"},
        follow=True,
    )

    assert "not allowed" in response.content.decode()
    rma.refresh_from_db()
    assert rma.status == ReturnStatus.REQUESTED


def test_a_click_on_a_stale_page_is_refused(client, agent, order):
    ReturnPolicy.objects.create(auto_approve=False)
    rma = request_return(order, (1, 1))
    decisions.rma_reject(rma=rma, actor=agent, reason="used")

    response = signed_in(client, agent).post(
        reverse("returns:decide", args=[rma.number]),
        {"action": "approve", "expected_status": "requested"},
        follow=True,
    )

    assert "changed meanwhile" in response.content.decode()


def test_scan_receive_then_inspect_in_the_warehouse(client, warehouse_user, order):
    rma = request_return(order, (1, 2))
    warehouse = WarehouseFactory()
    client = signed_in(client, warehouse_user)
    assert "autofocus" in client.get(reverse("returns:receiving")).content.decode()

    scanned = client.post(reverse("returns:receiving"), {"warehouse": warehouse.code, "code": order.number})

    assert scanned.status_code == 302 and scanned.url == f"{rma.get_absolute_url()}#inspect"
    rma.refresh_from_db()
    assert (rma.status, rma.warehouse, rma.received_by) == (ReturnStatus.RECEIVED, warehouse, warehouse_user)
    form = client.get(rma.get_absolute_url()).content.decode()
    line_id = rma.lines.get().pk
    assert f'name="intact_{line_id}"' in form and "autofocus" in form

    client.post(
        reverse("returns:inspect", args=[rma.number]),
        {
            "expected_status": "received",
            f"intact_{line_id}": "1",
            f"damaged_{line_id}": "1",
            f"note_{line_id}": "dent",
        },
    )

    rma.refresh_from_db()
    assert rma.status == ReturnStatus.REFUNDING  # finance pays it out by hand: not refunded yet
    graded = rma.lines.get()
    assert (graded.intact_quantity, graded.damaged_quantity, graded.inspection_note) == (1, 1, "dent")
    receiving = client.get(reverse("returns:receiving")).content.decode()
    assert rma.number in receiving  # its intact unit waits for the re-check
    detail = client.get(rma.get_absolute_url()).content.decode()
    assert 'id="refund"' in detail and "Paid out by finance" in detail
    assert "Refund paid out" not in detail  # confirming a payout is finance's


def test_finance_confirms_a_manual_payout_from_the_rma(client, finance_user, order):
    rma = receive_and_inspect(request_return(order, (1, 1)), {1: {"intact": 1}})
    client = signed_in(client, finance_user)
    assert "Refund paid out" in client.get(rma.get_absolute_url()).content.decode()

    client.post(reverse("returns:refund-confirm", args=[rma.number]), {"reference": "BANK-1"})

    rma.refresh_from_db()
    assert (rma.status, rma.refund.state, rma.refund.provider_reference) == ("closed", "succeeded", "BANK-1")


def test_an_unknown_scan_says_so(client, warehouse_user):
    response = signed_in(client, warehouse_user).post(
        reverse("returns:receiving"), {"warehouse": WarehouseFactory().code, "code": "RMA-NOPE"}, follow=True
    )

    assert "No return is expected" in response.content.decode()


def test_the_recheck_buttons_release_the_stock(client, warehouse_user, order):
    from returns.tests.conftest import balance

    rma = receive_and_inspect(request_return(order, (1, 1)), {1: {"intact": 1}})
    available = balance("SKU-1")[3]

    signed_in(client, warehouse_user).post(
        reverse("returns:recheck", args=[rma.number]),
        {"line": rma.lines.get().pk, "passed": "1", "next": "receiving"},
    )

    assert balance("SKU-1")[3] == available + 1


def test_metrics_show_return_rates_by_sku_and_reason(client, manager, warehouse_user, order):
    request_return(order, (1, 1), reason="damaged")

    page = signed_in(client, manager).get(reverse("returns:metrics")).content.decode()

    assert "SKU-1" in page and "50.0 %" in page  # 1 of 2 delivered units
    assert "Arrived damaged" in page and "100.0 %" in page
    assert signed_in(client, warehouse_user).get(reverse("returns:metrics")).status_code == 403


def test_the_rma_shows_the_exchange_order_and_its_shipments(client, agent, order):
    rma = opening.rma_create(
        order=order,
        kind="exchange",
        reason="not_as_described",
        lines=[{"order_line": line(order, 1).pk, "quantity": 1}],
        actor=agent,
    )

    page = signed_in(client, agent).get(rma.get_absolute_url()).content.decode()
    exchange_page = client.get(rma.exchange_order.get_absolute_url()).content.decode()

    assert rma.exchange_order.number in page
    assert rma.number in exchange_page  # the exchange order points back at its return


def test_attachments_are_shown_to_the_desk_only(client, agent, order, media):
    from django.core.files.uploadedfile import SimpleUploadedFile

    png = b"\x89PNG\r\n\x1a\n" + b"\x01" * 32
    rma = request_return(order, (1, 1), attachments=[SimpleUploadedFile("dent.png", png)])
    url = reverse("returns:attachment", args=[rma.number, rma.attachments.get().pk])

    assert client.get(url).status_code == 302  # to the login page
    response = signed_in(client, agent).get(url)
    assert response.status_code == 200 and b"".join(response.streaming_content) == png
    assert response["Content-Type"] == "image/png"


def test_an_attachment_whose_file_is_missing_is_404_and_copying_old_media_brings_it_back(
    client, agent, order, media, tmp_path
):
    from io import StringIO

    from django.core.files.storage import default_storage
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command

    png = b"\x89PNG\r\n\x1a\n" + b"\x02" * 32
    rma = request_return(order, (1, 1), attachments=[SimpleUploadedFile("dent.png", png)])
    attachment = rma.attachments.get()
    url = reverse("returns:attachment", args=[rma.number, attachment.pk])
    # as if uploaded before uploads moved off the local disk: the row refers to a file on disk only
    old_disk = tmp_path / "old-media"
    (old_disk / attachment.file.name).parent.mkdir(parents=True)
    (old_disk / attachment.file.name).write_bytes(png)
    default_storage.delete(attachment.file.name)

    assert signed_in(client, agent).get(url).status_code == 404

    out = StringIO()
    call_command("copy_media_to_storage", "--source", str(old_disk), stdout=out)
    call_command("copy_media_to_storage", "--source", str(old_disk), stdout=out)

    assert "1 file(s) copied, 0 already there." in out.getvalue()
    assert "0 file(s) copied, 1 already there." in out.getvalue()
    response = client.get(url)
    assert response.status_code == 200 and b"".join(response.streaming_content) == png
