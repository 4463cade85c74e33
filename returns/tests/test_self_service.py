"""The customer's self-service link: signed, expiring, naming the order and its purpose; no
login. Expired, forged or foreign tokens are refused; photos are validated by type and size."""

import io
import time
from datetime import UTC, datetime
from unittest import mock

import pytest
from django.core import signing
from django.core.files.uploadedfile import SimpleUploadedFile

from core.errors import DomainError
from returns import tokens
from returns.models import ReturnAttachment, ReturnRequest, ReturnStatus
from returns.tests.conftest import delivered_order, line, request_return

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
PDF = b"%PDF-1.7\n" + b"0" * 64
EXE = b"MZ\x90\x00" + b"\x00" * 64


@pytest.fixture
def order():
    return delivered_order()


def link(order) -> str:
    return tokens.self_service_url(order)


def upload(name: str, content: bytes, content_type: str = "application/octet-stream") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


def form(order, **extra) -> dict:
    data = {
        "kind": "return",
        "reason": "not_as_described",
        "description": "Colour differs from the photos",
        "contact_phone": "13800000001",
        f"qty_{line(order, 1).pk}": "1",
    }
    data.update(extra)
    return data


def test_the_link_opens_without_login_and_shows_what_can_come_back(client, order):
    response = client.get(link(order))

    assert response.status_code == 200
    page = response.content.decode()
    assert order.number in page and "SKU-1" in page and 'name="attachments"' in page


def test_the_customer_requests_a_return_with_a_photo(client, order, media):
    response = client.post(link(order), {**form(order), "attachments": [upload("scratch.png", PNG)]})

    assert response.status_code == 302
    rma = ReturnRequest.objects.get(order=order)
    assert (rma.source, rma.status, rma.requested_by) == ("self_service", ReturnStatus.APPROVED, None)
    attachment = rma.attachments.get()
    assert (attachment.original_name, attachment.content_type, attachment.size) == (
        "scratch.png",
        "image/png",
        len(PNG),
    )
    assert attachment.file.name.endswith(".png") and "scratch" not in attachment.file.name
    with attachment.file.open("rb") as stored:  # in the default storage (the database in tests)
        assert stored.read() == PNG
    assert rma.number in client.get(link(order)).content.decode()  # the page lists the request


def test_the_customer_enters_the_return_tracking_number(client, order):
    rma = request_return(order, (1, 1), source="self_service")

    response = client.post(f"{link(order)}{rma.number}/tracking/", {"tracking_number": "SF9876543210"})

    assert response.status_code == 302
    rma.refresh_from_db()
    assert (rma.status, rma.return_tracking_number) == (ReturnStatus.AWAITING_RETURN, "SF9876543210")


def test_a_request_outside_the_policy_is_refused_with_the_reason(client, order):
    from returns.tests.conftest import set_delivered_at

    set_delivered_at(order, datetime(2020, 1, 1, tzinfo=UTC))

    response = client.post(link(order), form(order), follow=True)

    assert "return window" in response.content.decode()
    assert not ReturnRequest.objects.exists()


def test_an_expired_link_is_refused(client, order, settings):
    settings.RETURN_LINK_MAX_AGE_DAYS = 30
    with mock.patch("django.core.signing.time.time", return_value=time.time() - 31 * 86400):
        old = tokens.make_token(order)

    response = client.get(f"/r/{old}/")

    assert response.status_code == 403
    assert "expired" in response.content.decode()
    with pytest.raises(tokens.InvalidLink):
        tokens.order_for_token(old)


def test_a_link_just_inside_its_age_still_works(order, settings):
    settings.RETURN_LINK_MAX_AGE_DAYS = 30
    with mock.patch("django.core.signing.time.time", return_value=time.time() - 29 * 86400):
        recent = tokens.make_token(order)

    assert tokens.order_for_token(recent) == order


def test_a_forged_link_is_refused(client, order):
    token = tokens.make_token(order)
    value, _sep, signature = token.rpartition(":")
    forged = f"{value}:{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    other_order = signing.TimestampSigner(salt=tokens.SALT).sign_object(
        {"order": order.number, "purpose": "return"}
    )
    tampered = other_order.replace(
        other_order.split(":")[0], signing.b64_encode(b'{"order":"SO1","purpose":"return"}').decode()
    )

    for bad in (forged, tampered, "nonsense", "a:b:c"):
        response = client.post(f"/r/{bad}/", form(order))
        assert response.status_code == 403, bad
    assert not ReturnRequest.objects.exists()


def test_a_token_signed_for_something_else_is_refused(client, order):
    other_salt = signing.TimestampSigner(salt="conduit.something-else").sign_object(
        {"order": order.number, "purpose": "return"}
    )
    other_purpose = signing.TimestampSigner(salt=tokens.SALT).sign_object(
        {"order": order.number, "purpose": "track"}
    )

    assert client.get(f"/r/{other_salt}/").status_code == 403
    assert client.get(f"/r/{other_purpose}/").status_code == 403


# --- attachments -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("photo.jpg", EXE, "not the JPG file"),
        ("photo.png", JPEG, "not the PNG file"),
        ("photo.gif", b"GIF89a" + b"\x00" * 20, "only JPG, PNG, WebP and PDF"),
        ("photo.exe", EXE, "only JPG, PNG, WebP and PDF"),
        ("empty.pdf", b"", "empty"),
    ],
)
def test_attachments_of_the_wrong_type_are_refused_and_nothing_is_stored(
    order, media, name, content, message
):
    with pytest.raises(DomainError) as refused:
        request_return(order, (1, 1), attachments=[upload("ok.pdf", PDF), upload(name, content)])

    assert message in refused.value.message and refused.value.field == "attachments"
    assert not ReturnRequest.objects.exists() and not ReturnAttachment.objects.exists()


def test_an_attachment_over_the_size_limit_is_refused(order, media, settings):
    settings.RETURN_ATTACHMENT_MAX_MB = 0.001  # about 1 KB

    with pytest.raises(DomainError, match="larger than"):
        request_return(order, (1, 1), attachments=[upload("big.jpg", JPEG + b"\x00" * 2048)])


def test_too_many_attachments_are_refused(order, media, settings):
    settings.RETURN_ATTACHMENT_MAX_COUNT = 2

    with pytest.raises(DomainError, match="At most 2 files"):
        request_return(order, (1, 1), attachments=[upload(f"p{i}.png", PNG) for i in range(3)])


def test_webp_and_pdf_are_accepted(order, media):
    webp = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 32

    rma = request_return(order, (1, 1), attachments=[upload("a.webp", webp), upload("receipt.PDF", PDF)])

    assert sorted(rma.attachments.values_list("content_type", flat=True)) == ["application/pdf", "image/webp"]
    assert io.BytesIO(rma.attachments.get(content_type="application/pdf").file.read()).read() == PDF
