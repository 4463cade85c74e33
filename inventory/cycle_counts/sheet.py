"""Cycle count sheets (R-I9): reading an uploaded .xlsx or .csv count sheet and validating it row
by row. A file is all or nothing: any bad row rejects it with every bad row named. Nothing here
writes; the services in inventory.cycle_counts.services store what passes.
"""

import logging
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

import tablib
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from import_export import fields, instance_loaders, resources, widgets
from import_export.formats import base_formats

from core.errors import DomainError
from core.sheets import SheetRefused, read_rows
from inventory import ledger
from inventory.models import SKU, Lot, PoolKind, StockPool

logger = logging.getLogger(__name__)

EXTENSIONS = (".xlsx", ".ods", ".csv")
COLUMNS = ("sku", "lot", "pool", "counted_quantity")
REQUIRED_COLUMNS = ("sku", "counted_quantity")
MAX_ROWS = 20_000  # one warehouse's count sheet; a bigger file is a mistake, not a count
MAX_QUANTITY = 1_000_000_000
HEADER_ROW = 1  # spreadsheet rows: the header is row 1, the first counted row is row 2


class RowError(NamedTuple):
    row_number: int
    field: str
    message: str


class CycleCountFileError(DomainError):
    """The uploaded file was refused; `errors` names every bad row (nothing was stored)."""

    def __init__(self, message: str, *, errors: list[RowError] | None = None):
        super().__init__(message, field="file")
        self.errors = errors or []


# --- reading the file ------------------------------------------------------------------------


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _normalise_header(value) -> str:
    return "" if _blank(value) else str(value).strip().lower().replace(" ", "_")


def _read_rows(file_bytes: bytes, file_name: str) -> list[list]:
    """Through the guarded reader (core.sheets): limits first, then calamine or the csv module."""
    try:
        return read_rows(file_bytes, file_name, extensions=EXTENSIONS)
    except SheetRefused as exc:
        logger.info("cycle count file %r refused: %s", file_name, exc.message)
        raise CycleCountFileError(exc.message) from exc


def read_dataset(*, file_bytes: bytes, file_name: str) -> tablib.Dataset:
    """The sheet as a Dataset with normalised headers; row i of the dataset is spreadsheet row
    i + 2. Trailing empty rows (formatting left in Excel) are dropped, inner ones kept."""
    rows = _read_rows(file_bytes, file_name)
    while rows and all(_blank(value) for value in rows[-1]):
        rows.pop()
    if not rows:
        raise CycleCountFileError(_("The file is empty."))
    headers = [_normalise_header(value) for value in rows[0]]
    while headers and not headers[-1]:
        headers.pop()
    missing = [column for column in REQUIRED_COLUMNS if column not in headers]
    if missing:
        raise CycleCountFileError(
            _("Columns missing from the header row: %(columns)s.") % {"columns": ", ".join(missing)},
            errors=[RowError(HEADER_ROW, column, _("This column is missing.")) for column in missing],
        )
    if len(rows) - 1 > MAX_ROWS:
        raise CycleCountFileError(_("At most %(n)s rows per file.") % {"n": MAX_ROWS})
    width = len(headers)
    dataset = tablib.Dataset(headers=[header or f"_unnamed_{i}" for i, header in enumerate(headers)])
    for row in rows[1:]:
        dataset.append([*row[:width], *[None] * (width - len(row))])
    return dataset


# --- validating rows (django-import-export) ------------------------------------------------------


@dataclass
class CountedRow:
    """What one spreadsheet row says, once each cell has been cleaned."""

    row_number: int = 0
    sku: SKU | None = None
    lot_code: str = ""
    lot: Lot | None = None
    pool: StockPool | None = None
    counted_quantity: int | None = None

    def __str__(self):
        return f"row {self.row_number}"


def _text(value) -> str:
    if _blank(value):
        return ""
    if isinstance(value, float) and value.is_integer():  # a numeric code typed into Excel: 1001.0
        value = int(value)
    return str(value).strip()


class CodeWidget(widgets.Widget):
    """A code in the sheet → the row it names, from a table loaded once per file."""

    def __init__(self, unknown_message: str):
        super().__init__()
        self.unknown_message = unknown_message
        self.table: dict = {}

    def clean(self, value, row=None, **kwargs):
        code = _text(value)
        if not code:
            return None
        if code not in self.table:
            raise ValueError(str(self.unknown_message) % {"code": code})
        return self.table[code]


class TextWidget(widgets.Widget):
    def clean(self, value, row=None, **kwargs):
        return _text(value)


class QuantityWidget(widgets.Widget):
    """A whole, non-negative number of units; Excel may hand it over as 12, 12.0 or "12"."""

    def clean(self, value, row=None, **kwargs):
        if _blank(value):
            return None
        if isinstance(value, bool):
            raise ValueError(_("Enter a whole number of units."))
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(_("Enter a whole number of units.")) from None
        if not number.is_finite() or number != number.to_integral_value():
            raise ValueError(_("Enter a whole number of units."))
        if number < 0:
            raise ValueError(_("A counted quantity cannot be negative."))
        if number > MAX_QUANTITY:
            raise ValueError(_("This quantity is too large."))
        return int(number)


class CycleCountResource(resources.Resource):
    """Validates a count sheet row by row, run as a dry run: every cell is cleaned by its
    widget, then each row is checked against the SKU's lot tracking and for repeats."""

    sku = fields.Field(
        attribute="sku",
        column_name="sku",
        widget=CodeWidget(unknown_message=gettext_lazy("Unknown SKU “%(code)s”.")),
    )
    lot = fields.Field(attribute="lot_code", column_name="lot", widget=TextWidget())
    pool = fields.Field(
        attribute="pool",
        column_name="pool",
        widget=CodeWidget(unknown_message=gettext_lazy("Unknown stock pool “%(code)s”.")),
    )
    counted_quantity = fields.Field(
        attribute="counted_quantity", column_name="counted_quantity", widget=QuantityWidget()
    )

    class Meta:
        instance_loader_class = instance_loaders.BaseInstanceLoader
        force_init_instance = True  # every row is a new counted position, never an update
        skip_diff = True
        store_instance = True
        use_bulk = True  # nothing is saved per row, so no savepoint per row either
        import_order = COLUMNS

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.default_pool: StockPool | None = None
        self.lots: dict[tuple[int, str], Lot] = {}
        self.seen: dict[tuple[int, int, int | None], int] = {}

    def column_of(self, attribute: str) -> str:
        for field in self.fields.values():
            if field.attribute == attribute:
                return field.column_name
        return attribute

    def before_import(self, dataset, **kwargs):
        """Load every SKU, lot and pool the file names in three queries, not three per row."""
        codes = {_text(value) for value in dataset["sku"]}
        skus = {sku.code: sku for sku in SKU.objects.filter(code__in=codes).only("pk", "code", "lot_tracked")}
        self.fields["sku"].widget.table = skus
        # Units in transit are on no shelf to count: their transfer receives or writes them off.
        counted = StockPool.objects.exclude(kind=PoolKind.IN_TRANSIT)
        self.fields["pool"].widget.table = {pool.code: pool for pool in counted}
        self.default_pool = StockPool.objects.get(pk=ledger.default_pool_id())
        self.lots = {(lot.sku_id, lot.code): lot for lot in Lot.objects.filter(sku__in=skus.values())}
        self.seen = {}

    def init_instance(self, row=None):
        return CountedRow()

    def after_init_instance(self, instance, new, row, **kwargs):
        instance.row_number = kwargs["row_number"] + HEADER_ROW

    def skip_row(self, instance, original, row, import_validation_errors=None):
        return all(_blank(value) for value in row.values())  # an empty line between blocks

    def import_instance(self, instance, row, **kwargs):
        if all(_blank(value) for value in row.values()):
            return
        errors: dict = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        errors.update(self._check_row(instance, failed=set(errors)))
        if errors:
            raise ValidationError(errors)

    def _check_row(self, row: CountedRow, *, failed: set[str]) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        if "sku" not in failed and row.sku is None:
            errors["sku"] = [_("Name the SKU.")]
        if "counted_quantity" not in failed and row.counted_quantity is None:
            errors["counted_quantity"] = [_("Enter the counted quantity (0 if none were found).")]
        if row.pool is None and "pool" not in failed:
            row.pool = self.default_pool
        if row.sku is None:
            return errors
        if not row.sku.lot_tracked and row.lot_code:
            errors["lot_code"] = [
                _("%(sku)s is not lot-tracked: leave the lot empty.") % {"sku": row.sku.code}
            ]
        elif row.sku.lot_tracked and not row.lot_code:
            errors["lot_code"] = [_("%(sku)s is lot-tracked: name the lot.") % {"sku": row.sku.code}]
        elif row.lot_code:
            row.lot = self.lots.get((row.sku.pk, row.lot_code))
            if row.lot is None:
                errors["lot_code"] = [
                    _("Unknown lot “%(lot)s” of %(sku)s.") % {"lot": row.lot_code, "sku": row.sku.code}
                ]
        if errors or failed or row.pool is None:
            return errors
        key = (row.sku.pk, row.pool.pk, row.lot.pk if row.lot else None)
        if key in self.seen:
            errors["sku"] = [
                _("Same SKU, lot and pool as row %(row)s: count each position once.")
                % {"row": self.seen[key]}
            ]
        else:
            self.seen[key] = row.row_number
        return errors

    def save_instance(self, instance, is_create, row, **kwargs):
        """Rows are validated here, not saved: the service stores the whole count at once."""


def _row_errors(resource: CycleCountResource, result) -> list[RowError]:
    errors = [RowError(HEADER_ROW, "file", str(error.error)) for error in result.base_errors]
    for error_row in result.error_rows:  # an unexpected failure: log it, do not echo internals
        for error in error_row.errors:
            logger.warning("cycle count row %s failed: %s", error_row.number + HEADER_ROW, error.traceback)
        errors.append(RowError(error_row.number + HEADER_ROW, "", _("This row could not be read.")))
    for invalid in result.invalid_rows:
        for attribute, messages in invalid.error_dict.items():
            field = "" if attribute == NON_FIELD_ERRORS else resource.column_of(attribute)
            errors.extend(RowError(invalid.number + HEADER_ROW, field, message) for message in messages)
    order = {column: i for i, column in enumerate(COLUMNS)}
    return sorted(errors, key=lambda e: (e.row_number, order.get(e.field, len(order))))


def cycle_count_validate(*, dataset: tablib.Dataset) -> list[CountedRow]:
    """Every counted row of the sheet, or CycleCountFileError naming each bad row."""
    resource = CycleCountResource()
    result = resource.import_data(dataset, dry_run=True, raise_errors=False)
    errors = _row_errors(resource, result)
    if errors:
        raise CycleCountFileError(
            ngettext(
                "%(n)s problem in the file; nothing was stored. Fix it and upload the file again.",
                "%(n)s problems in the file; nothing was stored. Fix them and upload the file again.",
                len(errors),
            )
            % {"n": len(errors)},
            errors=errors,
        )
    counted = [row.instance for row in result.rows if not row.is_skip()]
    if not counted:
        raise CycleCountFileError(_("The file has a header but no counted rows."))
    return counted


def cycle_count_template() -> bytes:
    """An empty count sheet with the expected header row."""
    return base_formats.XLSX().export_data(tablib.Dataset(headers=list(COLUMNS)))
