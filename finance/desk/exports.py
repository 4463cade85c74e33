"""One way to answer ?format=csv / ?format=xlsx for any finance report (streamed, formula-safe)."""

from core.spreadsheets import csv_response, xlsx_stream_response

FORMATS = ("csv", "xlsx")


def wants_export(request) -> str:
    fmt = request.GET.get("format", "")
    return fmt if fmt in FORMATS else ""


def export_response(fmt: str, name: str, title: str, header, rows):
    header = [str(cell) for cell in header]
    if fmt == "csv":
        return csv_response(f"{name}.csv", header, rows)
    return xlsx_stream_response(f"{name}.xlsx", str(title), header, rows)
