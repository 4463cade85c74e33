"""Invoices and receipts as return evidence: an image attached to an RMA is read by OCR in a
worker (returns.tasks.read_attachment, on the imports queue), its invoice number, date, amount
and seller are kept on an AttachmentReading, and the RMA page compares them with the order.

A read that fails (not an image, too big, too slow, the engine broke) is recorded with its reason
and the RMA goes on as before: nothing here is ever a condition of an RMA action."""

import re
import time
from datetime import datetime

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.transitions import lock_one
from returns import invoice_text, ocr
from returns.models import AttachmentReading, ReadingState, ReturnAttachment, ReturnRefund, ReturnRequest

IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")


def wants_reading(attachment: ReturnAttachment) -> bool:
    """Images are read (PDF invoices are not: they would need a PDF text reader, not OCR)."""
    return settings.RETURN_OCR_ENABLED and attachment.content_type in IMAGE_TYPES


def attachment_read(*, attachment_id: int, now: datetime | None = None) -> str:
    """Read one attachment's image and record what was found, or why it could not be read.
    Idempotent: a reading that is no longer pending is left alone (two runs at once: the first
    to finish wins, the other's result is dropped). Unexpected errors (storage, engine) propagate
    to the task, which retries once and then calls attachment_read_failed."""
    reading = (
        AttachmentReading.objects.select_related("attachment").filter(attachment_id=attachment_id).first()
    )
    if reading is None or reading.state != ReadingState.PENDING:
        return "skipped"
    attachment = reading.attachment
    started = time.perf_counter()
    engine_name = ""
    try:
        max_bytes = int(settings.RETURN_OCR_MAX_MB * 1024 * 1024)
        if attachment.size > max_bytes:
            raise ocr.Unreadable(_("The file is larger than %(mb)s MB.") % {"mb": settings.RETURN_OCR_MAX_MB})
        with attachment.file.open("rb") as stored:
            data = stored.read(max_bytes + 1)
        image = ocr.open_image(data)
        engine = ocr.engine()
        engine_name = engine.name
        started = time.perf_counter()  # the engine's first load is not the read's time
        with ocr.time_limit(settings.RETURN_OCR_TIME_LIMIT):
            lines = engine.read(image)
    except ocr.Unreadable as exc:
        return _finish(reading.pk, error=str(exc), engine=engine_name, started=started, now=now)
    except SoftTimeLimitExceeded:
        error = _("Reading took longer than %(s)s seconds.") % {"s": settings.RETURN_OCR_TIME_LIMIT}
        return _finish(reading.pk, error=error, engine=engine_name, started=started, now=now)
    fields = invoice_text.extract(lines)
    return _finish(
        reading.pk,
        engine=engine_name,
        started=started,
        now=now,
        read={
            "text": "\n".join(invoice_text.rows(lines)),
            "invoice_number": fields.invoice_number,
            "date": fields.date,
            "amount": fields.amount,
            "seller": fields.seller,
        },
    )


def attachment_read_failed(*, attachment_id: int, error: str, now: datetime | None = None) -> str:
    """The task gave up (after its retry): record why, so the page stops saying "reading…"."""
    reading = AttachmentReading.objects.filter(attachment_id=attachment_id).first()
    if reading is None:
        return "skipped"
    return _finish(reading.pk, error=error, engine="", started=None, now=now)


def _finish(reading_id: int, *, engine: str, started: float | None, now, error: str = "", read=None) -> str:
    took_ms = None if started is None else int((time.perf_counter() - started) * 1000)
    now = now or timezone.now()
    with transaction.atomic():
        reading = lock_one(AttachmentReading.objects, reading_id)
        if reading.state != ReadingState.PENDING:
            return "skipped"
        if read is not None:
            reading.mark_read(**read, engine=engine, took_ms=took_ms, now=now)
        else:
            reading.mark_failed(error=error, engine=engine, took_ms=took_ms, now=now)
        reading.save()
    return reading.state


# --- comparison with the order ------------------------------------------------------------------


def _name_key(name: str) -> str:
    # Full-width and half-width brackets, spaces and punctuation differ between an invoice, a shop
    # name and what OCR read; letters and Han characters are what identify the company.
    return re.sub(r"[\W_]+", "", name).casefold()


def reading_flags(reading: AttachmentReading, rma: ReturnRequest, refund: ReturnRefund | None) -> list[str]:
    """Where what was read disagrees with the order, in words for the desk. Nothing read, nothing
    flagged: a blurry photo is not a mismatch."""
    if reading.state != ReadingState.READ:
        return []
    order = rma.order
    flags = []
    if reading.amount is not None and order.currency == "CNY":  # Chinese invoices are in yuan
        expected = {amount for amount in (order.paid_amount, order.total) if amount}
        if refund is not None and refund.amount:
            expected.add(refund.amount)
        if expected and reading.amount not in expected:
            flags.append(
                _("Amount ¥%(read)s differs from the order (paid ¥%(paid)s%(refund)s).")
                % {
                    "read": reading.amount,
                    "paid": order.paid_amount or order.total,
                    "refund": (_(", refund ¥%(amount)s") % {"amount": refund.amount}) if refund else "",
                }
            )
    if reading.date is not None:
        placed = timezone.localtime(order.placed_at, order.channel.time_zone).date()
        if reading.date < placed:
            flags.append(
                _("Dated %(read)s, before the order was placed (%(placed)s).")
                % {"read": reading.date.isoformat(), "placed": placed.isoformat()}
            )
        elif reading.date > timezone.localtime(timezone.now(), order.channel.time_zone).date():
            flags.append(_("Dated %(read)s, in the future.") % {"read": reading.date.isoformat()})
    if reading.seller:
        seller = _name_key(reading.seller)
        # The name our own e-invoices are issued under (finance.invoices) is one of ours too.
        names = (
            order.channel.name,
            *settings.RETURN_EVIDENCE_SELLER_NAMES,
            getattr(settings, "NUONUO_SELLER_NAME", ""),
        )
        ours = [_name_key(name) for name in names]
        if seller and not any(name and (name in seller or seller in name) for name in ours):
            flags.append(
                _("Seller “%(seller)s” is neither the shop “%(shop)s” nor one of our company names.")
                % {"seller": reading.seller, "shop": order.channel.name}
            )
    return flags


def rma_attachments(rma: ReturnRequest, refund: ReturnRefund | None) -> list[ReturnAttachment]:
    """The RMA's attachments with their reading (None when the file is not read) and its flags."""
    attachments = list(rma.attachments.select_related("reading"))
    for attachment in attachments:
        reading = getattr(attachment, "reading", None)
        attachment.evidence = reading
        attachment.evidence_flags = reading_flags(reading, rma, refund) if reading else []
    return attachments
