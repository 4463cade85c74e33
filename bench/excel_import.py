"""Excel import, 100k rows × 10 columns (SPEC §8: ≤ 10 s; ≥ 20× django-import-export defaults).

Ours: finance.imports on a 100k-row bank statement (.xlsx, 10 columns, 7 of them read by the
built-in bank layout), timed from upload through the row-by-row check (the validate task's body)
to the confirmed insert (the commit task's body): the fast XLSX reader, validation in Python, the
checked rows staged, periods booked per month, one COPY.
Baseline, in the same run: django-import-export's default path on the first BASELINE_ROWS rows of
the same data (headers named after the model fields, as the library expects) — its XLSX format
(openpyxl) → tablib Dataset → ModelResource.import_data (per row: look the instance up by the
import id fields, clean, save) — scaled to the full file.
Invariants: every row imported exactly once, the amounts add up to the file's, progress reached
the total, nothing in the baseline's way (its lines are counted separately)."""

import os
import tempfile
import time
from datetime import datetime, timedelta
from decimal import Decimal

from bench.common import setup_django, teardown, verdict

DB = "conduit_bench_excel_import"
ROWS = int(os.environ.get("IMPORT_ROWS", 100_000))
BASELINE_ROWS = int(os.environ.get("IMPORT_BASELINE", 1_000))
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


def run() -> None:
    from django.conf import settings
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.db.models import Sum
    from import_export import resources
    from import_export.formats.base_formats import XLSX

    from finance.imports import services
    from finance.imports.models import ImportBatch, StatementLine
    from finance.periods import period_get

    settings.MEDIA_ROOT = tempfile.mkdtemp(prefix="conduit-bench-")
    data = workbook(HEADER, ROWS, "B")
    expected_sum = sum(row[1] for row in rows(ROWS, "B"))
    print(f"excel import, {ROWS:,} rows × {len(HEADER)} columns ({len(data) / 1e6:.1f} MB .xlsx)")

    # --- ours -----------------------------------------------------------------------------------
    progress = []
    real_progress = services._progress
    services._progress = lambda batch_id, n: (progress.append(n), real_progress(batch_id, n))
    started = time.perf_counter()
    batch = services.import_upload(file=SimpleUploadedFile("statement.xlsx", data), layout_key="builtin:bank")
    batch = services.import_validate(batch_id=batch.pk)
    checked = time.perf_counter()
    services.import_confirm(batch_id=batch.pk)
    batch = services.import_commit(batch_id=batch.pk)
    elapsed = time.perf_counter() - started
    rate = ROWS / elapsed
    print(
        f"  ours     : {elapsed:.2f} s → {rate:,.0f} rows/s (upload + check {checked - started:.2f} s, "
        f"confirm + insert {elapsed - (checked - started):.2f} s); state {batch.state}"
    )

    # --- baseline: django-import-export defaults, on a sample -----------------------------------
    period = period_get(2026, 1)
    sample_batch = ImportBatch.objects.create(
        source="bank", layout_name="import-export", file_name="sample.xlsx"
    )

    class BankLineResource(resources.ModelResource):
        class Meta:
            model = StatementLine
            fields = ("source", "account", "entry_id", "kind", "occurred_at", "amount", "currency", "counterparty",
                      "memo", "batch", "period", "row_number")  # fmt: skip
            import_id_fields = ("source", "account", "entry_id")

        def before_import(self, dataset, **kwargs):  # the fields a statement file does not carry
            height = dataset.height
            for header, value in (("source", "bank"), ("kind", "other"), ("batch", sample_batch.pk),
                                  ("period", period.pk)):  # fmt: skip
                dataset.append_col([value] * height, header=header)
            dataset.append_col(list(range(1, height + 1)), header="row_number")

    sample = workbook(BASELINE_HEADER, BASELINE_ROWS, "S")
    started = time.perf_counter()
    dataset = XLSX().create_dataset(sample)
    result = BankLineResource().import_data(dataset, dry_run=False, raise_errors=True)
    baseline_seconds = time.perf_counter() - started
    baseline_rate = BASELINE_ROWS / baseline_seconds
    print(
        f"  baseline : django-import-export import_data on {BASELINE_ROWS:,} rows in {baseline_seconds:.2f} s → "
        f"{baseline_rate:,.0f} rows/s; {ROWS:,} rows scaled: {ROWS / baseline_rate:,.0f} s"
    )
    ratio = rate / baseline_rate
    print(f"  ratio    : {ratio:.1f}×")
    print(f"  target   : ≤ 10 s {verdict(elapsed <= 10)}, ≥ 20× {verdict(ratio >= 20)}")

    ours = StatementLine.objects.filter(batch=batch)
    total = ours.aggregate(s=Sum("amount"))["s"]
    imported = ours.count()
    distinct = ours.values("entry_id").distinct().count()
    ok = (
        batch.state == "imported"
        and imported == distinct == ROWS
        and total == expected_sum
        and progress
        and progress[-1] == ROWS + 1  # the header row too
        and not result.has_errors()
        and StatementLine.objects.filter(batch=sample_batch).count() == BASELINE_ROWS
    )
    print(
        f"  invariants: {imported:,} lines, {distinct:,} distinct entries, sum {total} = file {expected_sum}, "
        f"progress {len(progress)} updates up to {progress[-1] if progress else 0:,} {verdict(ok)}"
    )
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
