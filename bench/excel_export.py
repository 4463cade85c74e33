"""Excel export, 100k rows (SPEC §8: ≤ 6 s; ≥ 3× the default export path).

Ours: the desk's statement-lines download (finance.reports.statement_export through
core.spreadsheets.xlsx_stream_response): rows streamed from the database in chunks and written
straight into the sheet XML of a zip that is sent as it grows; formulas neutralised. The whole
response is consumed, as a browser would. CSV is timed too.
Baseline, in the same run: django-import-export's default export path — the admin's
StatementLineResource().export(queryset) into a tablib Dataset, then its XLSX format
(openpyxl) — on BASELINE_ROWS lines, scaled to the full table.
Invariants: the workbook has every line plus the header (read back), and every planted formula
text comes out neutralised."""

import os
import time

from bench.common import setup_django, teardown, verdict

DB = "conduit_bench_excel_export"
ROWS = int(os.environ.get("EXPORT_ROWS", 100_000))
BASELINE_ROWS = int(os.environ.get("EXPORT_BASELINE", 20_000))
PLANTED = 1_000  # memos that would run as formulas


def load() -> None:
    """Set-based fixture: one import batch, two periods, ROWS bank and settlement lines."""
    from django.db import connection

    from finance.imports.models import ImportBatch
    from finance.periods import period_get

    january, february = period_get(2026, 1), period_get(2026, 2)
    batch = ImportBatch.objects.create(source="bank", layout_name="bench", file_name="bench.xlsx")
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO finance_statementline (batch_id, source, account, entry_id, kind, occurred_at, period_id,
                   period_note, amount, currency, transaction_id, order_ref, counterparty, memo, description, method,
                   row_number, matched_by)
            SELECT %(batch)s, CASE WHEN g %% 2 = 0 THEN 'bank' ELSE 'settlement' END, '6222020200112233',
                   'E' || g, CASE WHEN g %% 2 = 0 THEN 'other' ELSE 'sale' END,
                   timestamptz '2026-01-01 00:00:00+08' + make_interval(secs => g * 40),
                   CASE WHEN g * 40 < 31 * 86400 THEN %(jan)s ELSE %(feb)s END, '',
                   ((g %% 5000) + 1) + (g %% 100) / 100.0 - CASE WHEN g %% 7 = 0 THEN 6000 ELSE 0 END, 'CNY',
                   '2026' || lpad(g::text, 12, '0'), 'SO2026010' || (g %% 9) || lpad(g::text, 6, '0'),
                   '客户' || (g %% 997) || '有限公司',
                   CASE WHEN g <= %(planted)s THEN '=HYPERLINK("http://example.invalid")' ELSE '货款 ' || g END,
                   '', '网银', g + 1, ''
              FROM generate_series(1, %(rows)s) g;
            ANALYZE finance_statementline;
            """,
            {"batch": batch.pk, "jan": january.pk, "feb": february.pk, "rows": ROWS, "planted": PLANTED},
        )


def main() -> None:
    setup_django(DB)
    try:
        run()
    finally:
        teardown(DB)


def run() -> None:
    from import_export.formats.base_formats import XLSX

    from core.spreadsheets import FORMULA_PREFIXES
    from finance import reports
    from finance.desk.exports import export_response
    from finance.imports.models import StatementLine
    from finance.imports.readers import read_sheet
    from finance.resources import StatementLineResource

    load()
    print(f"excel export, {ROWS:,} statement lines")

    def ours(fmt):
        started = time.perf_counter()
        report = reports.statement_export(reports.statement_lines())
        response = export_response(fmt, "statement-lines", report.title, report.header, report.rows)
        data = b"".join(response.streaming_content)
        return time.perf_counter() - started, data

    seconds, data = ours("xlsx")
    csv_seconds, _csv = ours("csv")
    print(f"  ours     : xlsx {seconds:.2f} s → {ROWS / seconds:,.0f} rows/s ({len(data) / 1e6:.1f} MB, streamed); "
          f"csv {csv_seconds:.2f} s")  # fmt: skip

    queryset = StatementLine.objects.select_related("order", "period", "batch").order_by("occurred_at", "id")
    started = time.perf_counter()
    dataset = StatementLineResource().export(queryset=queryset[:BASELINE_ROWS])
    XLSX().export_data(dataset)
    baseline = time.perf_counter() - started
    scaled = baseline * ROWS / BASELINE_ROWS
    print(
        f"  baseline : django-import-export export → XLSX on {BASELINE_ROWS:,} rows in {baseline:.2f} s; "
        f"{ROWS:,} rows scaled: {scaled:.1f} s"
    )
    ratio = scaled / seconds
    print(f"  ratio    : {ratio:.1f}×")
    print(f"  target   : ≤ 6 s {verdict(seconds <= 6)}, ≥ 3× {verdict(ratio >= 3)}")

    sheet = read_sheet(data, "export.xlsx")
    rows = list(sheet.rows)
    memos = [values[11] for _n, values in rows[1:]]
    neutralised = sum(1 for memo in memos if memo == '\'=HYPERLINK("http://example.invalid")')
    dangerous = sum(1 for memo in memos if isinstance(memo, str) and memo.startswith(FORMULA_PREFIXES))
    ok = len(rows) == ROWS + 1 and neutralised == PLANTED and not dangerous
    print(f"  invariants: {len(rows) - 1:,} lines + header read back, {neutralised:,} formulas neutralised, "
          f"{dangerous} left {verdict(ok)}")  # fmt: skip
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
