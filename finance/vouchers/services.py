"""Vouchers: a period's revenue lines as balanced debit/credit entries, one voucher per business
day × channel × currency. Prepared by one finance user; released (downloadable) only after a
different finance user approves — the service enforces it, whatever the screen shows."""

from collections import defaultdict
from decimal import Decimal

from django.db import transaction
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError, NotPermitted, TransitionRefused
from core.money import ZERO, MoneySum, quantize
from core.timezones import business_zone
from core.transitions import check_transition, lock_one, transition
from finance.models import RevenueKind, RevenueLine
from finance.periods import period_get
from finance.vouchers.models import VoucherBatch, VoucherEntry, VoucherLayout, VoucherState

VALUES = (
    "date",
    "voucher_no",
    "line_no",
    "summary",
    "account",
    "debit",
    "credit",
    "currency",
    "channel",
    "kind",
    "period",
)
TEXT_PREFIX = "text:"
RECEIVABLE = "receivable"
MAX_NOTE = 500


def layout_check(layout: VoucherLayout) -> None:
    columns = layout.columns
    if not isinstance(columns, list) or not columns:
        raise DomainError(_("List at least one column as [header, value]."), field="columns")
    for index, column in enumerate(columns, start=1):
        if not (
            isinstance(column, list | tuple) and len(column) == 2 and all(isinstance(c, str) for c in column)
        ):
            raise DomainError(_("Column %(n)s: use [header, value].") % {"n": index}, field="columns")
        if column[1] not in VALUES and not column[1].startswith(TEXT_PREFIX):
            raise DomainError(
                _("Column %(n)s: unknown value “%(value)s”; use one of %(known)s or text:…")
                % {"n": index, "value": column[1], "known": ", ".join(VALUES)},
                field="columns",
            )
    codes = layout.account_codes
    if not isinstance(codes, dict) or not str(codes.get(RECEIVABLE, "")).strip():
        raise DomainError(
            _("Give the account code for “receivable” (the balancing entry)."), field="account_codes"
        )
    unknown = sorted(set(codes) - {*RevenueKind.values, RECEIVABLE})
    if unknown:
        raise DomainError(
            _("Unknown kinds in account codes: %(kinds)s.") % {"kinds": ", ".join(unknown)},
            field="account_codes",
        )
    if "%" not in layout.date_format:
        raise DomainError(_("Use strftime codes, e.g. %Y-%m-%d."), field="date_format")
    try:
        layout.summary_template.format(channel="c", date="d", kind="k", period="p")
    except (KeyError, IndexError, ValueError) as exc:
        raise DomainError(
            _("Only {channel}, {date}, {kind} and {period} can be used."), field="summary_template"
        ) from exc


def _snapshot(layout: VoucherLayout) -> dict:
    return {
        "name": layout.name,
        "columns": layout.columns,
        "date_format": layout.date_format,
    }


def voucher_prepare(*, year: int, month: int, layout_id: int, actor) -> VoucherBatch:
    if not actor.has_perm("finance.add_voucherbatch"):
        raise NotPermitted(_("You are not allowed to prepare vouchers."))
    layout = VoucherLayout.objects.filter(pk=layout_id, is_active=True).first()
    if layout is None:
        raise DomainError(_("Choose an active voucher layout."), field="layout")
    layout_check(layout)
    codes = {kind: str(code).strip() for kind, code in layout.account_codes.items()}
    with transaction.atomic():
        period = period_get(year, month)
        sums = (
            RevenueLine.objects.filter(period=period)
            .annotate(day=TruncDate("booked_at", tzinfo=business_zone()))
            .values("day", "order__channel__code", "currency", "kind")
            .annotate(total=MoneySum("amount"))
            .order_by("day", "order__channel__code", "currency", "kind")
        )
        vouchers: dict[tuple, list[tuple[str, Decimal]]] = defaultdict(list)
        for row in sums:
            total = quantize(row["total"])  # SQLite sums carry float noise
            if total:
                vouchers[(row["day"], row["order__channel__code"], row["currency"])].append(
                    (row["kind"], total)
                )
        if not vouchers:
            raise DomainError(_("No revenue is booked in %(period)s.") % {"period": period}, field="period")
        missing = sorted(
            {kind for lines in vouchers.values() for kind, _total in lines if not codes.get(kind)}
        )
        if missing:
            labels = dict(RevenueKind.choices)
            raise DomainError(
                _("The layout has no account code for: %(kinds)s.")
                % {"kinds": ", ".join(str(labels[k]) for k in missing)},
                field="account_codes",
            )
        batch = VoucherBatch.objects.create(
            period=period, layout=layout, layout_snapshot=_snapshot(layout), prepared_by=actor
        )
        entries, totals = _entries(batch, vouchers, codes, layout.summary_template, str(period))
        VoucherEntry.objects.bulk_create(entries, batch_size=1000)
        batch.voucher_count, batch.entry_count = len(vouchers), len(entries)
        batch.totals = {c: {"debit": str(t["debit"]), "credit": str(t["credit"])} for c, t in totals.items()}
        batch.save(update_fields=["voucher_count", "entry_count", "totals"])
    return batch


def _entries(batch, vouchers, codes, template, period_label):
    labels = dict(RevenueKind.choices)
    entries = []
    totals: dict[str, dict[str, Decimal]] = defaultdict(lambda: {"debit": ZERO, "credit": ZERO})
    for number, ((day, channel, currency), lines) in enumerate(sorted(vouchers.items()), start=1):
        rows = []
        for kind, amount in lines:
            rows.append((kind, codes[kind], ZERO if amount > 0 else -amount, amount if amount > 0 else ZERO))
        net = sum((amount for _kind, amount in lines), ZERO)
        if net:
            rows.append((RECEIVABLE, codes[RECEIVABLE], net if net > 0 else ZERO, -net if net < 0 else ZERO))
        for line_no, (kind, account, debit, credit) in enumerate(rows, start=1):
            label = str(labels.get(kind, _("Receivable")))
            entries.append(
                VoucherEntry(
                    batch=batch,
                    voucher_no=number,
                    line_no=line_no,
                    date=day,
                    channel=channel,
                    kind=kind,
                    account=account[:40],
                    summary=template.format(
                        channel=channel, date=day.isoformat(), kind=label, period=period_label
                    )[:200],
                    debit=debit,
                    credit=credit,
                    currency=currency,
                )
            )
            totals[currency]["debit"] += debit
            totals[currency]["credit"] += credit
    return entries, totals


def _decide(batch_id: int, actor, note: str, approve: bool) -> VoucherBatch:
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise DomainError(_("At most %(n)s characters.") % {"n": MAX_NOTE}, field="note")
    with transaction.atomic():
        batch = lock_one(VoucherBatch.objects, batch_id)
        if batch.state != VoucherState.PREPARED:
            raise TransitionRefused(_("This voucher batch was decided already."))
        name = "approve" if approve else "reject"
        forbidden = _("You are not allowed to approve voucher batches.")
        check_transition(batch, name, actor, forbidden=forbidden)
        if batch.prepared_by_id == actor.pk:
            raise NotPermitted(_("A second finance user must decide: you prepared this batch."))
        transition(
            batch, name, actor, args={"by": actor, "at": timezone.now(), "note": note}, forbidden=forbidden
        )
    return batch


def voucher_approve(*, batch_id: int, actor, note: str = "") -> VoucherBatch:
    return _decide(batch_id, actor, note, approve=True)


def voucher_reject(*, batch_id: int, actor, note: str = "") -> VoucherBatch:
    return _decide(batch_id, actor, note, approve=False)


def voucher_export(*, batch: VoucherBatch, actor) -> tuple[list[str], object]:
    """(header, rows) in the batch's layout; only for an approved (released) batch."""
    if not actor.has_perm("finance.view_voucherbatch"):
        raise NotPermitted(_("You are not allowed to download vouchers."))
    if batch.state != VoucherState.APPROVED:
        raise TransitionRefused(_("Vouchers are released only after a second finance user approves them."))
    columns = batch.layout_snapshot["columns"]
    date_format = batch.layout_snapshot["date_format"]
    period = str(batch.period)

    def value(entry: VoucherEntry, spec: str):
        if spec.startswith(TEXT_PREFIX):
            return spec[len(TEXT_PREFIX) :]
        if spec == "date":
            return entry.date.strftime(date_format)
        if spec == "period":
            return period
        return getattr(entry, spec)

    rows = (
        [value(entry, spec) for _header, spec in columns]
        for entry in batch.entries.order_by("voucher_no", "line_no").iterator(chunk_size=2000)
    )
    return [header for header, _spec in columns], rows
