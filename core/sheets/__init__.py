"""Reading uploaded spreadsheets safely: one guarded reader for every upload (core.sheets.reader),
the zip-bomb guard it runs first (core.sheets.zipguard), the scan of the XML parts for what a
reader would allocate (core.sheets.scan), and the limits (core.sheets.limits).
Admin import/export formats that use them are in core.sheets.formats."""

from core.sheets.limits import SheetLimits, SheetRefused
from core.sheets.reader import EXTENSIONS, accepted_types, decode_text, read_rows

__all__ = ["EXTENSIONS", "SheetLimits", "SheetRefused", "accepted_types", "decode_text", "read_rows"]
