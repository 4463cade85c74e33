"""The warehouse's paper (R-F3): 100×180 mm thermal shipping labels and A4 packing slips as one
PDF per batch, drawn with ReportLab (its Code 128 barcodes, no image files).

A label carries the carrier, the tracking number as a Code 128 barcode with its text, the
receiver as the order holds it, the sender (the warehouse), the items and the shipment number
as a second barcode for scan-to-pack. For orders whose platform protects the receiver (JD,
Pinduoduo, Douyin, Xiaohongshu) the order holds masked text only: their parcels ship on the
platform's own waybill, whose print data the platform's print component renders; this label then
serves the warehouse (items, shipment barcode) and never prints decrypted data.

Chinese text needs a CJK font: a TrueType one found on the machine is embedded (WenQuanYi Zen
Hei, Noto Sans CJK); without one, ReportLab's built-in STSong-Light (a CID font the PDF viewer
supplies) keeps the text correct."""

from io import BytesIO
from pathlib import Path

from django.utils import timezone
from django.utils.translation import gettext as _
from reportlab.graphics.barcode.code128 import Code128
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

LABEL_SIZE = (100 * mm, 180 * mm)
MARGIN = 4 * mm
ITEMS_ON_LABEL = 8  # more would not fit: the label says how many more
CJK_FONT_FILES = [  # (path, subfont index in a collection)
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),  # index 2: Simplified Chinese
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
]
FONT = "ConduitCJK"
FALLBACK_FONT = "STSong-Light"
_font_name: str | None = None


def font_name() -> str:
    """Register the CJK font once per process and return its name."""
    global _font_name
    if _font_name is None:
        for path, index in CJK_FONT_FILES:
            if Path(path).exists():
                try:
                    pdfmetrics.registerFont(TTFont(FONT, path, subfontIndex=index))
                except Exception:  # noqa: BLE001 - a damaged or unsupported font file: try the next
                    continue
                _font_name = FONT
                break
        else:
            pdfmetrics.registerFont(UnicodeCIDFont(FALLBACK_FONT))
            _font_name = FALLBACK_FONT
    return _font_name


def _address_lines(order) -> list[str]:
    region = " ".join(part for part in (order.ship_province, order.ship_city, order.ship_district) if part)
    street = " ".join(part for part in (order.ship_line1, order.ship_line2) if part)
    return [line for line in (region, street, order.ship_postcode) if line]


def _warehouse_lines(warehouse) -> list[str]:
    region = " ".join(part for part in (warehouse.province, warehouse.city, warehouse.district) if part)
    return [line for line in (warehouse.name, region, warehouse.address_line) if line]


def _fit(canvas: Canvas, text: str, size: float, width: float) -> str:
    """The text cut (with …) to the width, so a long address never runs off the label."""
    font = canvas._fontname
    if canvas.stringWidth(text, font, size) <= width:
        return text
    while text and canvas.stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text + "…"


def _barcode(canvas: Canvas, value: str, *, x: float, y: float, width: float, height: float) -> None:
    """A Code 128 barcode of `value`, as wide as allowed (the bar width scaled down to fit)."""
    bar_width = 0.5 * mm
    code = Code128(value, barWidth=bar_width, barHeight=height, humanReadable=False, quiet=True)
    if code.width > width:
        code = Code128(
            value, barWidth=bar_width * width / code.width, barHeight=height, humanReadable=False, quiet=True
        )
    code.drawOn(canvas, x + (width - code.width) / 2, y)


def labels_pdf(shipments, *, reprints: dict[int, int] | None = None) -> bytes:
    """One 100×180 mm page per shipment, in the order given. `reprints` marks the copies that
    are reprints (shipment id → copy number)."""
    reprints = reprints or {}
    buffer = BytesIO()
    canvas = Canvas(buffer, pagesize=LABEL_SIZE, pageCompression=1)
    canvas.setTitle(_("Shipping labels"))
    font = font_name()
    width, height = LABEL_SIZE
    inner = width - 2 * MARGIN
    for shipment in shipments:
        order = shipment.order
        y = height - MARGIN - 6 * mm
        canvas.setFont(font, 14)
        carrier = shipment.carrier.name if shipment.carrier else _("No carrier")
        canvas.drawString(MARGIN, y, _fit(canvas, carrier, 14, inner * 0.7))
        if shipment.pk in reprints:
            canvas.setFont(font, 10)
            canvas.drawRightString(width - MARGIN, y, _("REPRINT %(copy)s") % {"copy": reprints[shipment.pk]})
        y -= 26 * mm
        _barcode(canvas, shipment.tracking_number, x=MARGIN, y=y, width=inner, height=22 * mm)
        y -= 6 * mm
        canvas.setFont(font, 13)
        canvas.drawCentredString(width / 2, y, shipment.tracking_number)
        y -= 4 * mm
        canvas.line(MARGIN, y, width - MARGIN, y)

        y -= 6 * mm
        canvas.setFont(font, 9)
        canvas.drawString(MARGIN, y, _("To"))
        canvas.setFont(font, 12)
        canvas.drawString(
            MARGIN + 10 * mm, y, _fit(canvas, f"{order.ship_name}  {order.ship_phone}", 12, inner - 10 * mm)
        )
        canvas.setFont(font, 10)
        for line in _address_lines(order):
            y -= 5 * mm
            canvas.drawString(MARGIN + 10 * mm, y, _fit(canvas, line, 10, inner - 10 * mm))
        y -= 4 * mm
        canvas.line(MARGIN, y, width - MARGIN, y)

        y -= 5 * mm
        canvas.setFont(font, 9)
        canvas.drawString(MARGIN, y, _("From"))
        for index, line in enumerate(_warehouse_lines(shipment.warehouse)):
            if index:
                y -= 4.2 * mm
            canvas.drawString(MARGIN + 10 * mm, y, _fit(canvas, line, 9, inner - 10 * mm))
        y -= 4 * mm
        canvas.line(MARGIN, y, width - MARGIN, y)

        lines = list(shipment.lines.all())
        y -= 5 * mm
        canvas.setFont(font, 9)
        for line in lines[:ITEMS_ON_LABEL]:
            text = f"{line.sku.code} × {line.quantity}  {line.sku.name}"
            canvas.drawString(MARGIN, y, _fit(canvas, text, 9, inner))
            y -= 4.2 * mm
        if len(lines) > ITEMS_ON_LABEL:
            canvas.drawString(
                MARGIN, y, _("… and %(count)s more lines") % {"count": len(lines) - ITEMS_ON_LABEL}
            )

        _barcode(canvas, shipment.number, x=MARGIN, y=MARGIN + 6 * mm, width=inner * 0.75, height=9 * mm)
        canvas.setFont(font, 8)
        canvas.drawString(MARGIN, MARGIN + 2 * mm, f"{shipment.number} · {order.number}")
        canvas.drawRightString(
            width - MARGIN, MARGIN + 2 * mm, timezone.localtime().strftime("%Y-%m-%d %H:%M")
        )
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def packing_slips_pdf(shipments) -> bytes:
    """One A4 page per shipment: what is in the parcel, to tick off while packing."""
    buffer = BytesIO()
    canvas = Canvas(buffer, pagesize=A4, pageCompression=1)
    canvas.setTitle(_("Packing slips"))
    font = font_name()
    width, height = A4
    margin = 15 * mm
    for shipment in shipments:
        order = shipment.order
        y = height - margin - 8 * mm
        canvas.setFont(font, 18)
        canvas.drawString(margin, y, _("Packing slip"))
        _barcode(
            canvas, shipment.number, x=width - margin - 70 * mm, y=y - 4 * mm, width=70 * mm, height=14 * mm
        )
        y -= 10 * mm
        canvas.setFont(font, 10)
        facts = [
            (_("Shipment"), shipment.number),
            (_("Order"), f"{order.number} ({order.external_id})"),
            (_("Channel"), order.channel.name),
            (_("Placed"), timezone.localtime(order.placed_at).strftime("%Y-%m-%d %H:%M")),
            (_("Warehouse"), shipment.warehouse.name),
            (
                _("Carrier"),
                f"{shipment.carrier.name if shipment.carrier else '—'} {shipment.tracking_number}",
            ),
            (_("Receiver"), f"{order.ship_name} {order.ship_phone}"),
        ]
        for label, value in facts:
            y -= 6 * mm
            canvas.drawString(margin, y, label)
            canvas.drawString(margin + 30 * mm, y, _fit(canvas, value, 10, width - 2 * margin - 30 * mm))
        for line in _address_lines(order):
            y -= 5 * mm
            canvas.drawString(margin + 30 * mm, y, _fit(canvas, line, 10, width - 2 * margin - 30 * mm))
        y -= 10 * mm
        canvas.setFont(font, 10)
        for x, title in (
            (margin, _("SKU")),
            (margin + 45 * mm, _("Item")),
            (width - margin - 30 * mm, _("Quantity")),
        ):
            canvas.drawString(x, y, title)
        y -= 2 * mm
        canvas.line(margin, y, width - margin, y)
        for line in shipment.lines.all():
            y -= 7 * mm
            if y < margin + 10 * mm:
                canvas.showPage()
                canvas.setFont(font, 10)
                y = height - margin - 8 * mm
            canvas.drawString(margin, y, _fit(canvas, line.sku.code, 10, 43 * mm))
            canvas.drawString(
                margin + 45 * mm, y, _fit(canvas, line.sku.name, 10, width - 2 * margin - 80 * mm)
            )
            canvas.drawString(width - margin - 30 * mm, y, str(line.quantity))
            canvas.rect(width - margin - 4 * mm, y - 1 * mm, 4 * mm, 4 * mm)
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()
