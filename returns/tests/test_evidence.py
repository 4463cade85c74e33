"""OCR of invoice and receipt images attached to an RMA (returns.evidence, returns.ocr,
returns.invoice_text): invoices are rendered here with the CJK font CI installs and read by the
real engine (RapidOCR with its packaged models); limits, failures and retries use a fake engine."""

import io
import os
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from celery import current_app
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image, ImageDraw, ImageFont

from catalog.models import Channel
from orders.tests.factories import WarehouseFactory
from returns import evidence, invoice_text, logistics, ocr, tasks
from returns.models import AttachmentReading, R, ReadingState
from returns.ocr import TextLine
from returns.tests.conftest import delivered_order, request_return

pytestmark = pytest.mark.django_db

FONT = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")


def cjk_font(size: int = 22) -> ImageFont.FreeTypeFont:
    if not FONT.exists():
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail(f"{FONT} is missing (fonts-wqy-zenhei); CI installs it")
        pytest.skip(f"{FONT} is missing: apt-get install fonts-wqy-zenhei to render Chinese invoices")
    return ImageFont.truetype(str(FONT), size)


def invoice_png(*, number: str, day: date, amount: str, seller: str) -> bytes:
    """A 数电 invoice's key lines, black on white, small enough to read in a second or two."""
    font = cjk_font()
    lines = [
        "电子发票（普通发票）",
        f"发票号码：{number}",
        f"开票日期：{day.year}年{day.month:02d}月{day.day:02d}日",
        "购买方名称：张三",
        f"销售方名称：{seller}",
        f"价税合计（大写）伍佰元整    （小写）¥{amount}",
    ]
    image = Image.new("RGB", (720, 40 + 46 * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    for row, text in enumerate(lines):
        draw.text((20, 20 + row * 46), text, fill="black", font=font)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def png(width: int = 40, height: int = 20) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buffer, "PNG")
    return buffer.getvalue()


def attach(order, name: str, content: bytes, capture):
    """Open an RMA with one attachment; the OCR task runs when the transaction commits."""
    with capture(execute=True):
        rma = request_return(order, (1, 1), attachments=[SimpleUploadedFile(name, content)])
    return rma, rma.attachments.get()


class FakeEngine:
    name = "fake 1.0"

    def __init__(self, lines=(), *, sleep=0.0, fail_times=0):
        self.lines, self.sleep, self.fail_times, self.calls = list(lines), sleep, fail_times, 0

    def read(self, image):
        self.calls += 1
        if self.calls <= self.fail_times:
            raise RuntimeError("engine crashed")
        deadline = time.monotonic() + self.sleep
        while time.monotonic() < deadline:  # Python-level work, as between the engine's stages
            time.sleep(0.05)
        return self.lines


@pytest.fixture
def fake_engine(monkeypatch):
    def install(engine: FakeEngine) -> FakeEngine:
        monkeypatch.setattr(ocr, "engine", lambda: engine)
        return engine

    return install


@pytest.fixture
def order():
    order = delivered_order()
    Channel.objects.filter(pk=order.channel_id).update(name="示例数码旗舰店")  # shops have Chinese names
    order.channel.refresh_from_db()
    return order


def local_placed_date(order) -> date:
    return timezone.localtime(order.placed_at, order.channel.time_zone).date()


# --- the real engine on rendered invoices ----------------------------------------------------------


def test_an_invoice_image_is_read_and_matches_the_order(
    client, agent, order, media, django_capture_on_commit_callbacks
):
    # given an invoice for the order's amount, from the shop, dated the day the order was placed
    number = "25442000000123456789"
    content = invoice_png(
        number=number,
        day=local_placed_date(order),
        amount=f"{order.total:.2f}",
        seller=order.channel.name,
    )

    # when it is attached to an RMA and the task has run
    rma, attachment = attach(order, "invoice.png", content, django_capture_on_commit_callbacks)

    # then the number and the amount are read exactly, and nothing disagrees with the order
    reading = AttachmentReading.objects.get(attachment=attachment)
    assert reading.state == ReadingState.READ, reading.error
    assert reading.invoice_number == number
    assert reading.amount == order.total == Decimal("212.80")
    assert reading.date == local_placed_date(order)
    assert reading.seller == order.channel.name
    assert reading.engine.startswith("RapidOCR 1.4") and reading.took_ms is not None
    assert evidence.reading_flags(reading, rma, None) == []
    print(f"\nOCR of a {len(content)} byte invoice: {reading.took_ms} ms")  # noqa: T201
    client.force_login(agent)
    page = client.get(rma.get_absolute_url()).content.decode()
    assert (
        number in page and "¥212.80" in page and "error-text" not in page.split("evidence-read", 1)[1][:800]
    )


def test_an_invoice_that_disagrees_with_the_order_is_flagged(
    client, agent, order, media, django_capture_on_commit_callbacks, settings
):
    settings.RETURN_EVIDENCE_SELLER_NAMES = ["示例科技（杭州）有限公司"]
    content = invoice_png(
        number="12345678", day=date(2020, 1, 2), amount="99.00", seller="深圳别家电子有限公司"
    )

    rma, attachment = attach(order, "invoice.png", content, django_capture_on_commit_callbacks)

    reading = AttachmentReading.objects.get(attachment=attachment)
    assert (reading.state, reading.invoice_number, reading.amount) == (
        ReadingState.READ,
        "12345678",
        Decimal("99.00"),
    )
    flags = evidence.reading_flags(reading, rma, None)
    assert len(flags) == 3, flags
    assert "¥99.00" in flags[0] and "212.80" in flags[0]  # amount
    assert "2020-01-02" in flags[1]  # dated before the order
    assert "深圳别家电子有限公司" in flags[2]  # not our seller
    client.force_login(agent)
    page = client.get(rma.get_absolute_url()).content.decode()
    assert "¥99.00" in page and "2020-01-02" in page and 'class="error-text"' in page


# --- field extraction --------------------------------------------------------------------------


def lines_of(*rows: str | tuple[str, str]) -> list[TextLine]:
    """Rows of text as the engine would box them; a tuple is a row with a left and a right box."""
    boxes = []
    for index, row in enumerate(rows):
        cells = row if isinstance(row, tuple) else (row,)
        for column, text in enumerate(cells):
            boxes.append(TextLine(text=text, x=100 + 400 * column, y=30 + 40 * index, height=24, score=0.99))
    return boxes


def test_the_fields_of_a_digitised_invoice_in_two_columns():
    fields = invoice_text.extract(
        lines_of(
            "电子发票（增值税专用发票）",
            "发票号码:2544 2000 0001 2345 6789",
            "开票日期:2026年3月4日",
            ("购买方信息 名称：上海某某有限公司", "销售方信息 名称：杭州示例贸易有限公司"),
            ("合计", "Y100.00 Y13.00"),
            "价税合计（大写） 壹佰壹拾叁元整 （小写）Y113.00",
        )
    )

    assert fields == invoice_text.InvoiceFields(
        invoice_number="25442000000123456789",
        date=date(2026, 3, 4),
        amount=Decimal("113.00"),
        seller="杭州示例贸易有限公司",
    )


def test_an_older_vat_invoice_and_a_shop_receipt():
    vat = invoice_text.extract(
        lines_of(
            "发票代码：144031900111",
            "发票号码：01234567",
            "开票日期：2025年12月31日",
            "销售方名称：某某商行  纳税人识别号：91330000",
        )
    )
    receipt = invoice_text.extract(
        lines_of(
            "商户名称：楼下便利店",
            "日期：2026-01-05 12:30",
            "合计 ¥1,280.50",
            "优惠 ¥30.50",
            "实付 ¥1,250.00",
        )
    )

    assert (vat.invoice_number, vat.date, vat.seller) == ("01234567", date(2025, 12, 31), "某某商行")
    assert vat.amount is None
    assert (receipt.invoice_number, receipt.date, receipt.amount, receipt.seller) == (
        "",
        date(2026, 1, 5),
        Decimal("1250.00"),
        "楼下便利店",
    )


def test_a_photo_with_no_invoice_on_it_finds_nothing():
    assert invoice_text.extract(lines_of("MADE IN CHINA", "批号 2026")) == invoice_text.InvoiceFields()


# --- limits and failures (fake engine) ---------------------------------------------------------


def test_a_corrupt_image_fails_with_a_reason_and_the_rma_goes_on(
    client, agent, order, media, django_capture_on_commit_callbacks, fake_engine
):
    engine = fake_engine(FakeEngine())
    corrupt = b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 40

    rma, attachment = attach(order, "receipt.png", corrupt, django_capture_on_commit_callbacks)

    reading = AttachmentReading.objects.get(attachment=attachment)
    assert reading.state == ReadingState.FAILED and "not an image" in reading.error
    assert engine.calls == 0
    assert rma.status == R.APPROVED  # as without the file: the policy approved it
    rma = logistics.rma_receive(rma=rma, warehouse=WarehouseFactory())  # actions go on
    assert rma.status == R.RECEIVED
    client.force_login(agent)
    page = client.get(rma.get_absolute_url()).content.decode()
    assert "Could not read: " in page and reading.error in page


@pytest.mark.parametrize(
    ("limit", "value", "message"),
    [("RETURN_OCR_MAX_MB", 0.00002, "larger than"), ("RETURN_OCR_MAX_PIXELS", 100, "pixels")],
)
def test_a_file_over_the_limits_fails_before_the_engine_sees_it(
    order, media, django_capture_on_commit_callbacks, fake_engine, settings, limit, value, message
):
    engine = fake_engine(FakeEngine())
    setattr(settings, limit, value)

    rma, attachment = attach(order, "big.png", png(40, 20), django_capture_on_commit_callbacks)

    reading = AttachmentReading.objects.get(attachment=attachment)
    assert reading.state == ReadingState.FAILED and message in reading.error
    assert engine.calls == 0 and rma.status == R.APPROVED


def test_a_big_image_is_scaled_down_before_reading(settings):
    settings.RETURN_OCR_MAX_SIDE = 500

    image = ocr.open_image(png(3000, 1000))

    assert image.size == (500, 167) and image.mode == "RGB"


def test_a_slow_read_is_stopped_at_the_time_limit(
    order, media, django_capture_on_commit_callbacks, fake_engine, settings
):
    settings.RETURN_OCR_TIME_LIMIT = 1
    engine = fake_engine(FakeEngine(sleep=30))

    started = time.monotonic()
    rma, attachment = attach(order, "slow.png", png(), django_capture_on_commit_callbacks)

    assert time.monotonic() - started < 10
    reading = AttachmentReading.objects.get(attachment=attachment)
    assert reading.state == ReadingState.FAILED and "longer than 1 seconds" in reading.error
    assert engine.calls == 1 and rma.status == R.APPROVED
    # the worker's own limits are set on the task as the backstop
    assert (
        tasks.read_attachment.soft_time_limit > 1
        and tasks.read_attachment.time_limit > tasks.read_attachment.soft_time_limit
    )


def test_an_engine_error_is_retried_once_then_recorded(
    order, media, django_capture_on_commit_callbacks, fake_engine
):
    engine = fake_engine(FakeEngine(fail_times=5))

    rma, attachment = attach(order, "photo.png", png(), django_capture_on_commit_callbacks)

    reading = AttachmentReading.objects.get(attachment=attachment)
    assert engine.calls == 2
    assert reading.state == ReadingState.FAILED and "RuntimeError: engine crashed" in reading.error
    assert rma.status == R.APPROVED


def test_a_retry_that_succeeds_records_the_reading(
    order, media, django_capture_on_commit_callbacks, fake_engine
):
    engine = fake_engine(FakeEngine(lines_of("实付 ¥5.00"), fail_times=1))

    _rma, attachment = attach(order, "photo.png", png(), django_capture_on_commit_callbacks)

    reading = AttachmentReading.objects.get(attachment=attachment)
    assert (engine.calls, reading.state, reading.amount) == (2, ReadingState.READ, Decimal("5.00"))
    assert tasks.read_attachment(attachment.pk) == "skipped"  # idempotent: already read
    assert engine.calls == 2


def test_the_page_says_reading_until_the_task_has_run_and_pdfs_are_not_read(client, agent, order, media):
    pdf = SimpleUploadedFile("invoice.pdf", b"%PDF-1.7\n" + b"0" * 64)
    rma = request_return(
        order, (1, 1), attachments=[SimpleUploadedFile("a.png", png()), pdf]
    )  # not committed

    readings = {
        a.original_name: getattr(a, "reading", None) for a in rma.attachments.select_related("reading")
    }
    assert readings["a.png"].state == ReadingState.PENDING and readings["invoice.pdf"] is None
    client.force_login(agent)
    assert "Reading the invoice…" in client.get(rma.get_absolute_url()).content.decode()


def test_the_task_runs_on_the_imports_queue():
    assert current_app.amqp.router.route({}, tasks.read_attachment.name)["queue"].name == "imports"
