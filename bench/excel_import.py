"""Excel import, 100k rows × 10 columns (SPEC §8: ≤ 5 s; ≥ 10× django-import-export with use_bulk).

Ours: finance.imports on a 100k-row bank statement (.xlsx, 10 columns, 7 of them read by the
built-in bank layout), timed from upload through the row-by-row check (the validate task's body)
to the confirmed insert (the commit task's body): the fast XLSX reader, validation in Python, the
checked rows staged, periods booked per month, one COPY.
Baseline: django-import-export as a competent user would set it up for speed — `use_bulk=True`,
`batch_size=1000`, `skip_diff=True`, one cached look-up of the existing entries
(CachedInstanceLoader on the bank reference) — reading the file with the project's configured
XLSX format (core.sheets: guard + calamine, faster than the library's openpyxl), on the first
BASELINE_ROWS rows of the same data (headers named after the model fields), scaled to ROWS.
Floor: the very rows ours wrote, read back and written again by one plain COPY (new entry ids) in
one transaction: what this machine needs for the writes alone.
Rounds: ours, baseline, floor, ROUNDS times (A B F A B F …), each round on a fresh file with new
bank references (made outside the timing); medians reported.
Invariants, every round: every row imported exactly once, the amounts add up to the file's,
progress reached the total; the baseline and the floor wrote exactly their rows.
Also printed once (issue #18 part 5): the statement reader, calamine alone and the guarded
calamine path of core.sheets on the same 100k-row file (IMPORT_READERS=0 skips it)."""

import io
import os
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial

from bench.common import ROUNDS, load_average, load_one, setup_django, summary, teardown, verdict

DB = os.environ.get("BENCH_DB", "conduit_bench_sheet_h_import")
ROWS = int(os.environ.get("IMPORT_ROWS", 100_000))
BASELINE_ROWS = int(os.environ.get("IMPORT_BASELINE", 2_000))
READERS = os.environ.get("IMPORT_READERS", "1") == "1"
TARGET_SECONDS, TARGET_RATIO = 5, 10
HEADER = [
    "date",
    "amount",
    "currency",
    "counterparty",
    "memo",
    "bank reference",
    "account",
    "balance",
    "branch",
    "note",
]
BASELINE_HEADER = ["occurred_at", "amount", "currency", "counterparty", "memo", "entry_id", "account", "balance",
                   "branch", "note"]  # fmt: skip


def rows(count: int, prefix: str):
    start = datetime(2026, 1, 1, 8, 0)
    for n in range(count):
        yield [
            start + timedelta(seconds=17 * n),
            Decimal(f"{(n % 5000) + 1}.{n % 100:02d}"),
            "CNY",
            f"客户{n % 997}有限公司",
            f"货款 SO2026010{n % 9}{n:06d} 订单",
            f"{prefix}{n:09d}",
            "6222020200112233",
            Decimal("1000000.00") + n,
            "杭州西湖支行",
            "网银转账",
        ]


def workbook(header, count, prefix) -> bytes:
    from core.spreadsheets import xlsx_stream

    return b"".join(xlsx_stream("Statement", header, rows(count, prefix)))


def main() -> None:
    setup_django(DB)
    try:
        run()
    finally:
        teardown(DB)


def _record(progress: list, real_progress, batch_id: int, rows: int) -> None:
    progress.append(rows)
    real_progress(batch_id, rows)


def compare_readers(data: bytes) -> None:
    """Part 5 of issue #18: the statement reader against calamine, on the same file."""
    import python_calamine

    from core.sheets.reader import read_rows
    from finance.imports.readers import read_sheet

    def timed(fn) -> float:
        started = time.perf_counter()
        fn()
        return time.perf_counter() - started

    def calamine():
        with python_calamine.CalamineWorkbook.from_object(io.BytesIO(data)) as book:
            book.get_sheet_by_index(0).to_python(skip_empty_area=False)

    statement = timed(lambda: list(read_sheet(data, "s.xlsx").rows))
    raw = timed(calamine)
    guarded = timed(lambda: read_rows(data, "s.xlsx"))
    print(
        f"  readers  : statement reader (finance.imports.readers, guard + regex, exact Decimals) {statement:.2f} s; "
        f"calamine alone {raw:.2f} s; core.sheets (guard + expat scan + calamine) {guarded:.2f} s"
    )


def run() -> None:
    from django.conf import settings
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.db import connection, transaction
    from django.db.models import Sum
    from import_export import resources
    from import_export.instance_loaders import CachedInstanceLoader

    from core.sheets.formats import SafeXLSX
    from finance.imports import services
    from finance.imports.insertion import COLUMNS
    from finance.imports.models import ImportBatch, StatementLine
    from finance.periods import period_get

    load_start = load_average()
    print(f"excel import, {ROWS:,} rows × {len(HEADER)} columns, {ROUNDS} rounds; {load_start}")
    settings.MEDIA_ROOT = tempfile.mkdtemp(prefix="conduit-bench-")
    expected_sum = sum(row[1] for row in rows(ROWS, "B"))
    period = period_get(2026, 1)

    class BankLineResource(resources.ModelResource):
        class Meta:
            model = StatementLine
            fields = ("source", "account", "entry_id", "kind", "occurred_at", "amount", "currency", "counterparty",
                      "memo", "batch", "period", "row_number")  # fmt: skip
            import_id_fields = ("entry_id",)
            instance_loader_class = CachedInstanceLoader
            use_bulk = True
            batch_size = 1000
            skip_diff = True

        def __init__(self, batch_id):
            super().__init__()
            self.batch_id = batch_id

        def before_import(self, dataset, **kwargs):  # the fields a statement file does not carry
            height = dataset.height
            for header, value in (("source", "bank"), ("kind", "other"), ("batch", self.batch_id),
                                  ("period", period.pk)):  # fmt: skip
                dataset.append_col([value] * height, header=header)
            dataset.append_col(list(range(1, height + 1)), header="row_number")

    ours_times, baseline_rates, floor_times, failures = [], [], [], []
    real_progress = services._progress
    for round_no in range(1, ROUNDS + 1):
        data = workbook(HEADER, ROWS, f"B{round_no}-")
        sample = workbook(BASELINE_HEADER, BASELINE_ROWS, f"S{round_no}-")
        if round_no == 1:
            print(f"  file     : {len(data) / 1e6:.1f} MB .xlsx; baseline sample {BASELINE_ROWS:,} rows")
            if READERS:
                compare_readers(data)

        # --- A: ours ------------------------------------------------------------------------------
        progress = []
        services._progress = partial(_record, progress, real_progress)
        started = time.perf_counter()
        batch = services.import_upload(
            file=SimpleUploadedFile("statement.xlsx", data), layout_key="builtin:bank"
        )
        batch = services.import_validate(batch_id=batch.pk)
        checked = time.perf_counter() - started
        services.import_confirm(batch_id=batch.pk)
        batch = services.import_commit(batch_id=batch.pk)
        ours = time.perf_counter() - started
        services._progress = real_progress
        ours_times.append(ours)

        # --- B: django-import-export, use_bulk, on the sample -------------------------------------
        sample_batch = ImportBatch.objects.create(
            source="bank", layout_name="import-export", file_name="sample.xlsx"
        )
        started = time.perf_counter()
        dataset = SafeXLSX().create_dataset(sample)
        result = BankLineResource(sample_batch.pk).import_data(dataset, dry_run=False, raise_errors=True)
        baseline = time.perf_counter() - started
        baseline_rates.append(BASELINE_ROWS / baseline)

        # --- F: the same rows by one COPY ---------------------------------------------------------
        floor_batch = ImportBatch.objects.create(source="bank", layout_name="floor", file_name="floor.copy")
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {', '.join(COLUMNS)} FROM finance_statementline WHERE batch_id = %s ORDER BY id",  # noqa: S608
                [batch.pk],
            )
            written = [(floor_batch.pk, r[1], r[2], "F" + r[3], *r[4:]) for r in cursor.fetchall()]
        started = time.perf_counter()
        statement = f"COPY finance_statementline ({', '.join(COLUMNS)}) FROM STDIN"
        with transaction.atomic(), connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
            for row in written:
                copy.write_row(row)
        floor = time.perf_counter() - started
        floor_times.append(floor)

        # --- invariants ---------------------------------------------------------------------------
        ours_lines = StatementLine.objects.filter(batch=batch)
        total = ours_lines.aggregate(s=Sum("amount"))["s"]
        imported = ours_lines.count()
        distinct = ours_lines.values("entry_id").distinct().count()
        base_count = StatementLine.objects.filter(batch=sample_batch).count()
        floor_count = StatementLine.objects.filter(batch=floor_batch).count()
        ok = (
            batch.state == "imported"
            and imported == distinct == ROWS
            and total == expected_sum
            and bool(progress)
            and progress[-1] == ROWS + 1  # the header row too
            and not result.has_errors()
            and base_count == BASELINE_ROWS
            and floor_count == ROWS
        )
        if not ok:
            failures.append(round_no)
        print(
            f"  round {round_no}  : ours {ours:.2f} s (upload + check {checked:.2f} s) | baseline {BASELINE_ROWS:,} rows "
            f"{baseline:.2f} s → {ROWS * baseline / BASELINE_ROWS:.0f} s scaled | floor COPY {floor:.2f} s | "
            f"{imported:,} lines, sum {'=' if total == expected_sum else '≠'} file, baseline {base_count:,}, "
            f"floor {floor_count:,} {verdict(ok)} | {load_one()}"
        )

    ours = statistics.median(ours_times)
    baseline_rate = statistics.median(baseline_rates)
    scaled = ROWS / baseline_rate
    floor = statistics.median(floor_times)
    ratio = scaled / ours
    load_end = load_average()
    print(f"  medians  : ours {ours:.2f} s ({ROWS / ours:,.0f} rows/s); baseline {baseline_rate:,.0f} rows/s → "
          f"{scaled:.0f} s for {ROWS:,} (scaled from {BASELINE_ROWS:,}); floor {floor:.2f} s")  # fmt: skip
    print(f"  ratios   : {ratio:.1f}× the baseline; ours takes {ours / floor:.1f}× the floor's time "
          f"({floor / ours:.0%} of the floor's rate)")  # fmt: skip
    print(f"  target   : ≤ {TARGET_SECONDS} s {verdict(ours <= TARGET_SECONDS)}, "
          f"≥ {TARGET_RATIO}× {verdict(ratio >= TARGET_RATIO)}; invariants {verdict(not failures)}")  # fmt: skip
    print(f"  {load_end} (end)")
    summary(
        f"Excel import {ROWS // 1000}k × 10",
        target=f"≤ {TARGET_SECONDS} s, ≥ {TARGET_RATIO}×",
        figure=f"{ours:.2f} s",
        baseline=f"{scaled:.0f} s (import-export use_bulk, {BASELINE_ROWS:,} scaled)",
        floor=f"{floor:.2f} s (COPY)",
        ratios=f"{ratio:.1f}× baseline, {ours / floor:.1f}× floor time",
        load=f"{load_start.split()[2]} → {load_end.split()[2]}",
    )
    if failures:
        raise SystemExit(f"invariants failed in rounds {failures}")


if __name__ == "__main__":
    main()
