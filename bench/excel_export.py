"""Excel export, 100k rows (SPEC §8: ≤ 3 s; ≥ 3× the default export path).

Ours: the desk's statement-lines download (finance.reports.statement_export through
core.spreadsheets.xlsx_stream_response): rows streamed from the database in chunks and written
straight into the sheet XML of a zip that is sent as it grows; formulas neutralised. The whole
response is consumed, as a browser would. CSV is timed too.
Baseline, in the same run: django-import-export's default export path — the admin's
StatementLineResource().export(queryset) into a tablib Dataset, then its XLSX format
(openpyxl) — on BASELINE_ROWS lines, scaled to the full table.
Rounds: ours (xlsx), baseline, ROUNDS times (A B A B …), medians reported; CSV timed once. No
floor: nothing is written (a read-only path).
Invariants: the workbook has every line plus the header (read back), and every planted formula
text comes out neutralised."""

import os
import statistics
import time

from bench.common import ROUNDS, load_average, load_one, setup_django, summary, teardown, verdict

DB = os.environ.get("BENCH_DB", "conduit_bench_sheet_h_export")
ROWS = int(os.environ.get("EXPORT_ROWS", 100_000))
BASELINE_ROWS = int(os.environ.get("EXPORT_BASELINE", 10_000))
TARGET_SECONDS, TARGET_RATIO = 3, 3
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

    load_start = load_average()
    load()
    print(f"excel export, {ROWS:,} statement lines, {ROUNDS} rounds; {load_start}")

    def ours(fmt):
        started = time.perf_counter()
        report = reports.statement_export(reports.statement_lines())
        response = export_response(fmt, "statement-lines", report.title, report.header, report.rows)
        data = b"".join(response.streaming_content)
        return time.perf_counter() - started, data

    def baseline():
        queryset = StatementLine.objects.select_related("order", "period", "batch").order_by(
            "occurred_at", "id"
        )
        started = time.perf_counter()
        dataset = StatementLineResource().export(queryset=queryset[:BASELINE_ROWS])
        XLSX().export_data(dataset)
        return time.perf_counter() - started

    ours_times, baseline_times, data = [], [], b""
    for round_no in range(1, ROUNDS + 1):
        seconds, data = ours("xlsx")
        base = baseline()
        ours_times.append(seconds)
        baseline_times.append(base)
        print(f"  round {round_no}  : ours xlsx {seconds:.2f} s ({len(data) / 1e6:.1f} MB, streamed) | baseline "
              f"{BASELINE_ROWS:,} rows {base:.2f} s → {base * ROWS / BASELINE_ROWS:.1f} s scaled | {load_one()}")  # fmt: skip
    csv_seconds, _csv = ours("csv")

    seconds = statistics.median(ours_times)
    scaled = statistics.median(baseline_times) * ROWS / BASELINE_ROWS
    ratio = scaled / seconds
    print(f"  medians  : ours xlsx {seconds:.2f} s → {ROWS / seconds:,.0f} rows/s (csv once: {csv_seconds:.2f} s); "
          f"baseline django-import-export export → XLSX {scaled:.1f} s for {ROWS:,} "
          f"(scaled from {BASELINE_ROWS:,})")  # fmt: skip
    print(f"  ratio    : {ratio:.1f}×")

    sheet = read_sheet(data, "export.xlsx")
    rows = list(sheet.rows)
    memos = [values[11] for _n, values in rows[1:]]
    neutralised = sum(1 for memo in memos if memo == '\'=HYPERLINK("http://example.invalid")')
    dangerous = sum(1 for memo in memos if isinstance(memo, str) and memo.startswith(FORMULA_PREFIXES))
    ok = len(rows) == ROWS + 1 and neutralised == PLANTED and not dangerous
    print(f"  invariants: {len(rows) - 1:,} lines + header read back, {neutralised:,} formulas neutralised, "
          f"{dangerous} left {verdict(ok)}")  # fmt: skip
    print(f"  target   : ≤ {TARGET_SECONDS} s {verdict(seconds <= TARGET_SECONDS)}, "
          f"≥ {TARGET_RATIO}× {verdict(ratio >= TARGET_RATIO)}")  # fmt: skip
    load_end = load_average()
    print(f"  {load_end} (end)")
    summary(
        f"Excel export {ROWS // 1000}k",
        target=f"≤ {TARGET_SECONDS} s, ≥ {TARGET_RATIO}×",
        figure=f"{seconds:.2f} s",
        baseline=f"{scaled:.1f} s (import-export export, {BASELINE_ROWS:,} scaled)",
        floor="— (read only)",
        ratios=f"{ratio:.1f}× baseline",
        load=f"{load_start.split()[2]} → {load_end.split()[2]}",
    )
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
