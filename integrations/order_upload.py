"""Generic order upload (R-X1 "generic JSON/Excel import"): a spreadsheet with one row per order
line; rows sharing (channel, external_id) form one order. Every order is validated as the
canonical order (CanonicalOrderInput) and the file is imported whole or not at all.

This module turns a sheet into a preview and a preview into orders; integrations.uploads keeps
the upload between the steps (the sheet is read by a worker, never in the request)."""

import io
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import openpyxl
from django.utils.translation import gettext as _

from core.errors import DomainError
from core.sheets import SheetRefused, read_rows
from core.spreadsheets import spreadsheet_safe
from orders.amounts import order_amounts
from orders.canonical import CanonicalOrderInput, item_resolver
from orders.intake import order_ingest_batch
from orders.models import Order

COLUMNS = (
    "channel",
    "external_id",
    "placed_at",
    "currency",
    "customer_name",
    "customer_phone",
    "customer_email",
    "country",
    "province",
    "city",
    "district",
    "address",
    "postcode",
    "sku",
    "quantity",
    "unit_price",
    "line_discount",
    "line_tax",
    "shipping_fee",
    "order_discount",
    "tax_included",
    "paid_amount",
    "paid",
    "note",
)
REQUIRED_COLUMNS = ("channel", "external_id", "sku", "quantity", "unit_price")
# Columns describing the order, not the line: every row of an order must agree on them.
ORDER_COLUMNS = tuple(
    c for c in COLUMNS if c not in ("sku", "quantity", "unit_price", "line_discount", "line_tax")
)
EXTENSIONS = (".xlsx", ".ods", ".csv")
MAX_ROWS = 20_000
HEADER_ROW = 1  # spreadsheet rows: the header is row 1, the first order line is row 2
YES = {"yes", "y", "true", "1", "是", "x"}
NO = {"", "no", "n", "false", "0", "否"}

# Where a canonical field's error shows in the sheet.
ADDRESS_COLUMNS = {"line1": "address", "line2": "address", "name": "customer_name", "phone": "customer_phone"}
TOP_LEVEL_COLUMNS = {"discount": "order_discount", "shipping_address": "address", "lines": "sku"}
LINE_COLUMNS = {"discount": "line_discount", "tax_amount": "line_tax"}


class OrderUploadError(DomainError):
    """The file was refused as a whole (unreadable, too big, wrong columns)."""

    def __init__(self, message: str):
        super().__init__(message, field="file")


@dataclass(frozen=True)
class RowError:
    rows: tuple[int, ...]  # spreadsheet row numbers (the header is row 1)
    field: str  # the column, or "" when the problem is not one column's
    message: str


@dataclass
class PlannedOrder:
    channel: str
    external_id: str
    rows: tuple[int, ...]
    line_count: int
    currency: str = ""
    total: Decimal | None = None
    exists: bool = False  # imported before: confirming changes nothing for it


@dataclass
class UploadPreview:
    headers: list[str]
    rows: list[list]  # the data rows as read (for the error file)
    orders: list[PlannedOrder] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    items: list[dict] = field(default_factory=list)  # validated canonical orders

    @property
    def is_valid(self) -> bool:
        # every order that validated is an item; an order that did not left an error
        return not self.errors and bool(self.orders)

    @property
    def new_orders(self) -> int:
        return sum(1 for order in self.orders if not order.exists)

    def stored(self) -> dict:
        """What integrations.uploads keeps of the preview (JSON); `from_stored` rebuilds it."""
        return {
            "headers": self.headers,
            "rows": self.rows,
            "errors": [asdict(error) for error in self.errors],
            "orders": [{**asdict(order), "total": _amount(order.total)} for order in self.orders],
        }

    @classmethod
    def from_stored(cls, *, headers, rows, errors, orders) -> "UploadPreview":
        preview = cls(headers=headers, rows=rows)
        preview.errors = [RowError(tuple(e["rows"]), e["field"], e["message"]) for e in errors]
        preview.orders = [
            PlannedOrder(**{**order, "rows": tuple(order["rows"]), "total": _decimal(order["total"])})
            for order in orders
        ]
        _mark_existing(preview)
        return preview


def _amount(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


# --- reading and validating ------------------------------------------------------------------


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _json_cell(value):
    """A cell as the upload keeps it (JSON): dates and times as the ISO text the canonical
    order reads; numbers, text, booleans as they are."""
    if isinstance(value, date | datetime):
        return _moment(value)
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return value


def order_upload_rows(*, file_bytes: bytes, file_name: str) -> list[list]:
    """The sheet's rows, read by the guarded reader (core.sheets): limits first, then calamine or
    the csv module (UTF-8, UTF-8 with BOM, UTF-16, GBK/GB18030)."""
    try:
        rows = read_rows(file_bytes, file_name, extensions=EXTENSIONS)
    except SheetRefused as exc:
        raise OrderUploadError(exc.message) from exc
    return [[_json_cell(value) for value in row] for row in rows]


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _number(value):
    """Numbers as the serializer wants them: Excel floats become exact decimal text."""
    if isinstance(value, bool) or value is None:
        return _text(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else str(Decimal(repr(value)))
    return _text(value)


def _moment(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return f"{value.isoformat()}T00:00:00"
    return _text(value)


def _canonical(rows: list[tuple[int, dict]], errors: list[RowError]) -> dict:
    """One order's rows as the canonical order (JSON-like, the serializer validates it)."""
    first_number, first = rows[0]
    for number, row in rows[1:]:
        for column in ORDER_COLUMNS:
            if not _blank(row.get(column)) and _text(row.get(column)) != _text(first.get(column)):
                errors.append(
                    RowError(
                        (number,),
                        column,
                        _("Differs from row %(row)s of the same order.") % {"row": first_number},
                    )
                )
    paid = _text(first.get("paid")).lower()
    tax_included = _text(first.get("tax_included")).lower()
    for column, answer in (("paid", paid), ("tax_included", tax_included)):
        if answer not in YES | NO:
            errors.append(RowError((first_number,), column, _("Use yes or no.")))
    data = {
        "channel": _text(first.get("channel")),
        "external_id": _text(first.get("external_id")),
        "placed_at": _moment(first.get("placed_at")),
        "currency": _text(first.get("currency")).upper(),
        "customer": {
            "name": _text(first.get("customer_name")),
            "phone": _text(first.get("customer_phone")),
            "email": _text(first.get("customer_email")),
        },
        "shipping_address": {
            "name": _text(first.get("customer_name")),
            "phone": _text(first.get("customer_phone")),
            "country": _text(first.get("country")).upper(),
            "province": _text(first.get("province")),
            "city": _text(first.get("city")),
            "district": _text(first.get("district")),
            "line1": _text(first.get("address")),
            "postcode": _text(first.get("postcode")),
        },
        "lines": [
            {
                "sku": _text(row.get("sku")),
                "quantity": _number(row.get("quantity")),
                "unit_price": _number(row.get("unit_price")),
                "discount": _number(row.get("line_discount"))
                if not _blank(row.get("line_discount"))
                else "0",
                "tax_amount": _number(row.get("line_tax")) if not _blank(row.get("line_tax")) else "0",
            }
            for _row_number, row in rows
        ],
        "paid": paid in YES,
        "tax_included": tax_included in YES,
        "note": _text(first.get("note")),
    }
    for column, key in (
        ("shipping_fee", "shipping_fee"),
        ("order_discount", "discount"),
        ("paid_amount", "paid_amount"),
    ):
        if not _blank(first.get(column)):
            data[key] = _number(first.get(column))
    return data


def _flatten(errors, path=()):
    """DRF's nested errors as (path, message) pairs."""
    if isinstance(errors, dict):
        for key, value in errors.items():
            yield from _flatten(value, (*path, key))
    elif isinstance(errors, list) and errors and all(isinstance(e, dict) for e in errors):
        for index, value in enumerate(errors):
            yield from _flatten(value, (*path, index))
    elif isinstance(errors, list):
        for message in errors:
            yield path, str(message)
    else:
        yield path, str(errors)


def _row_errors(serializer_errors, row_numbers: tuple[int, ...]) -> list[RowError]:
    found = []
    for path, message in _flatten(serializer_errors):
        head = path[0] if path else ""
        if head == "lines" and len(path) >= 2 and isinstance(path[1], int):
            key = path[2] if len(path) > 2 else ""
            column = "" if key in ("", "non_field_errors") else LINE_COLUMNS.get(key, key)
            found.append(RowError((row_numbers[path[1]],), column, message))
        elif head == "shipping_address":
            key = path[1] if len(path) > 1 else ""
            found.append(RowError(row_numbers, ADDRESS_COLUMNS.get(key, key), message))
        elif head == "customer":
            key = path[1] if len(path) > 1 else ""
            found.append(RowError(row_numbers, f"customer_{key}" if key else "customer_name", message))
        elif head == "non_field_errors" or not head:
            found.append(RowError(row_numbers, "", message))
        else:
            found.append(RowError(row_numbers, TOP_LEVEL_COLUMNS.get(head, head), message))
    return found


def order_upload_preview(*, rows: list[list]) -> UploadPreview:
    """Validate the sheet's rows (order_upload_rows) without writing anything."""
    rows = list(rows)
    while rows and all(_blank(value) for value in rows[-1]):
        rows.pop()
    if not rows:
        raise OrderUploadError(_("The file is empty."))
    if len(rows) - 1 > MAX_ROWS:
        raise OrderUploadError(_("At most %(n)s rows per file.") % {"n": MAX_ROWS})
    headers = ["" if _blank(h) else str(h).strip().lower().replace(" ", "_") for h in rows[0]]
    while headers and not headers[-1]:
        headers.pop()
    missing = [column for column in REQUIRED_COLUMNS if column not in headers]
    if missing:
        raise OrderUploadError(
            _("Columns missing from the header row: %(columns)s.") % {"columns": ", ".join(missing)}
        )
    width = len(headers)
    data_rows = [[*row[:width], *[None] * (width - len(row))] for row in rows[1:]]
    preview = UploadPreview(headers=headers, rows=data_rows)

    groups: dict[tuple[str, str], list[tuple[int, dict]]] = {}
    for offset, values in enumerate(data_rows):
        number = HEADER_ROW + 1 + offset
        if all(_blank(value) for value in values):
            continue
        row = dict(zip(headers, values, strict=True))
        key = (_text(row.get("channel")), _text(row.get("external_id")))
        blank_keys = [
            column for column, value in zip(("channel", "external_id"), key, strict=True) if not value
        ]
        for column in blank_keys:
            preview.errors.append(RowError((number,), column, _("This field is required.")))
        if not blank_keys:
            groups.setdefault(key, []).append((number, row))
    if not groups and not preview.errors:
        raise OrderUploadError(_("The file has no order lines."))

    drafts = []
    for key, group in groups.items():
        errors: list[RowError] = []
        drafts.append((key, group, errors, _canonical(group, errors)))
    resolver = item_resolver(draft for _key, _group, _errors, draft in drafts)  # every line's SKU at once
    for (channel, external_id), group, errors, draft in drafts:
        numbers = tuple(number for number, _row in group)
        serializer = CanonicalOrderInput(data=draft, context={"item_resolver": resolver})
        if serializer.is_valid():
            preview.items.append(serializer.validated_data)
            amount = order_amounts(serializer.validated_data)["total"]
        else:
            errors.extend(_row_errors(serializer.errors, numbers))
            amount = None
        preview.errors.extend(errors)
        preview.orders.append(
            PlannedOrder(
                channel=channel,
                external_id=external_id,
                rows=numbers,
                line_count=len(group),
                currency=_text(group[0][1].get("currency")).upper(),
                total=amount,
            )
        )
    preview.errors.sort(key=lambda error: (error.rows, error.field))
    _mark_existing(preview)
    return preview


def _mark_existing(preview: UploadPreview) -> None:
    by_channel: dict[str, set[str]] = {}
    for order in preview.orders:
        by_channel.setdefault(order.channel, set()).add(order.external_id)
    known = set()
    for channel, external_ids in by_channel.items():
        known.update(
            (channel, external_id)
            for external_id in Order.objects.filter(
                channel__code=channel, external_id__in=external_ids
            ).values_list("external_id", flat=True)
        )
    for order in preview.orders:
        order.exists = (order.channel, order.external_id) in known


# --- outputs -----------------------------------------------------------------------------------


def _workbook_bytes(header: list, rows) -> bytes:
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet(_("Orders"))
    sheet.append([spreadsheet_safe(value) for value in header])
    for row in rows:
        sheet.append([spreadsheet_safe(value) for value in row])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def order_upload_template() -> bytes:
    return _workbook_bytes(list(COLUMNS), [])


def order_upload_error_file(preview: UploadPreview) -> bytes:
    """The original rows with an "errors" column naming each row's problems."""
    by_row: dict[int, list[str]] = {}
    for error in preview.errors:
        text = f"{error.field}: {error.message}" if error.field else error.message
        for number in error.rows:
            by_row.setdefault(number, []).append(text)
    rows = (
        [*values, "; ".join(by_row.get(HEADER_ROW + 1 + offset, []))]
        for offset, values in enumerate(preview.rows)
    )
    return _workbook_bytes([*preview.headers, "errors"], rows)


# --- importing ---------------------------------------------------------------------------------


def order_upload_import(*, rows: list[list], actor) -> list[tuple[Order, bool]]:
    """Validate the rows again and import all their orders, or nothing when any row is wrong.
    Orders seen before (same channel and external id) are left as they are."""
    preview = order_upload_preview(rows=rows)
    if preview.errors:
        raise OrderUploadError(
            _("The file has %(n)s errors; nothing was imported.") % {"n": len(preview.errors)}
        )
    return order_ingest_batch(items=preview.items, actor=actor)
