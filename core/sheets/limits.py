"""How much an uploaded spreadsheet may hold, and the refusals that name the limit it broke."""

from dataclasses import dataclass, fields, replace

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import DomainError

MB = 1024 * 1024


class SheetRefused(DomainError):
    """The file as a whole cannot be read (wrong type, broken, over a limit)."""

    def __init__(self, message: str):
        super().__init__(message, field="file")


@dataclass(frozen=True)
class SheetLimits:
    max_file_bytes: int
    max_unpacked_bytes: int  # all parts of a workbook together, once unzipped
    max_compression_ratio: int  # unzipped size / zipped size of one part
    max_cells: int  # rows × columns of one sheet: what a reader allocates for it
    max_shared_strings: int
    max_shared_strings_bytes: int

    @classmethod
    def from_settings(cls, **overrides) -> "SheetLimits":
        """The SHEETS_* settings, with the caller's own limits where it has them."""
        values = {field.name: getattr(settings, f"SHEETS_{field.name.upper()}") for field in fields(cls)}
        return replace(cls(**values), **overrides)


def megabytes(size: int) -> str:
    return f"{size / MB:,.1f}".removesuffix(".0")


def too_large(what: str, limit: int) -> SheetRefused:
    return SheetRefused(
        _("The file is too large to read: %(what)s is over the limit of %(limit)s MB.")
        % {"what": what, "limit": megabytes(limit)}
    )


def too_many(what: str, limit: int) -> SheetRefused:
    return SheetRefused(
        _("The file is too large to read: it holds more than %(limit)s %(what)s.")
        % {"what": what, "limit": f"{limit:,}"}
    )


def too_compressed(part: str, limit: int) -> SheetRefused:
    return SheetRefused(
        _(
            "The file is refused: its part %(part)s unpacks to more than %(limit)s times its packed size "
            "(the limit), which is how a zip bomb is built."
        )
        % {"part": part[:80], "limit": f"{limit:,}"}
    )


KIND_NAMES = {
    ".xlsx": gettext_lazy("Excel .xlsx workbook"),
    ".ods": gettext_lazy("OpenDocument .ods spreadsheet"),
    ".csv": gettext_lazy("CSV text file"),
}


def not_a(kind: str) -> SheetRefused:
    return SheetRefused(
        _("The file could not be read: it is not an %(kind)s.") % {"kind": KIND_NAMES.get(kind, kind)}
    )


def unreadable(kind: str) -> SheetRefused:
    return SheetRefused(
        _("The file could not be read: it is not a readable %(kind)s.") % {"kind": KIND_NAMES.get(kind, kind)}
    )
