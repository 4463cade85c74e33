"""Accounting periods (R-M5): calendar months in the business time zone. A closed period is
locked: whatever is dated in it afterwards is booked in the next open period, with a note.

Booking share-locks the period row (FOR SHARE on PostgreSQL) for the rest of the caller's
transaction and closing takes it exclusively, so an item is never booked into a period that a
concurrent close has just locked.
"""

from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError, TransitionRefused
from core.timezones import business_zone
from core.transitions import lock_one, transition
from finance.models import AccountingPeriod, PeriodState, next_month

MAX_MONTHS_AHEAD = 240  # a safety stop: the current month can never be closed, so this is never reached


def period_month(moment: datetime) -> tuple[int, int]:
    """(year, month) of the business-time-zone month an aware moment falls in."""
    if timezone.is_naive(moment):
        raise ValueError("accounting periods need an aware datetime")
    local = timezone.localtime(moment, business_zone())
    return local.year, local.month


def period_get(year: int, month: int) -> AccountingPeriod:
    """The period row for a month, created open on first use (race-safe: unique constraint)."""
    period, _created = AccountingPeriod.objects.get_or_create(year=year, month=month)
    return period


def period_for(moment: datetime) -> AccountingPeriod:
    """The period an aware moment belongs to: 2026-01-31T23:59:59+08:00 → 2026-01,
    2026-02-01T00:00:00+08:00 → 2026-02."""
    return period_get(*period_month(moment))


def _share_locked_state(period: AccountingPeriod) -> str:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            table = connection.ops.quote_name(AccountingPeriod._meta.db_table)
            cursor.execute(f"SELECT state FROM {table} WHERE id = %s FOR SHARE", [period.pk])  # noqa: S608
            return cursor.fetchone()[0]
    # SQLite runs one writer at a time (immediate transactions): a plain read is current.
    return AccountingPeriod.objects.values_list("state", flat=True).get(pk=period.pk)


def period_for_booking(moment: datetime) -> tuple[AccountingPeriod, str]:
    """The open period an item dated `moment` is booked in, and the note to keep with it when that
    is not its own (closed) period. Call inside the transaction that writes the item."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("book inside the transaction that writes the item")
    own = period_for(moment)
    period = own
    for _step in range(MAX_MONTHS_AHEAD):
        if _share_locked_state(period) == PeriodState.OPEN:
            break
        period = period_get(*next_month(period.year, period.month))
    else:
        raise DomainError(_("No open accounting period after %(period)s.") % {"period": own})
    if period.pk == own.pk:
        return period, ""
    return period, booking_note(moment, own, period)


def booking_note(moment: datetime, own: AccountingPeriod, period: AccountingPeriod) -> str:
    """The note kept with an item dated `moment` in the closed period `own`, booked in `period`."""
    return _("Dated %(date)s in closed period %(closed)s; booked in %(period)s.") % {
        "date": timezone.localtime(moment, business_zone()).strftime("%Y-%m-%d %H:%M"),
        "closed": own,
        "period": period,
    }


def period_close(*, year: int, month: int, actor=None, now: datetime | None = None) -> AccountingPeriod:
    """Close a month that has ended. Audited on the row (closed_by, closed_at); never reopened
    here, so what was reported for it stays true."""
    if not 1 <= month <= 12:
        raise DomainError(_("Month must be between 1 and 12."), field="month")
    now = now or timezone.now()
    with transaction.atomic():
        period = period_get(year, month)
        period = lock_one(AccountingPeriod.objects, period.pk)
        if period.state != PeriodState.OPEN:
            raise TransitionRefused(_("Period %(period)s is already closed.") % {"period": period})
        if period.ends_at > now:
            raise DomainError(
                _("Period %(period)s has not ended yet; close it from %(end)s on.")
                % {"period": period, "end": period.ends_at.strftime("%Y-%m-%d %H:%M %Z")},
                field="period",
            )
        transition(
            period,
            "close",
            actor,
            args={"by": actor},
            forbidden=_("You are not allowed to close accounting periods."),
            refused=_("Period %(period)s cannot be closed.") % {"period": period},
        )
    return period
