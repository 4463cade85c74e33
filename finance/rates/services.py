"""Writing exchange rates, and fixing the rate of payments recorded before theirs was known.

One rate per (day, currency): a rate finance imports replaces the stored one (a deliberate
correction, shown as an update in the import preview); a published rate never replaces a stored
one. A payment keeps the rate it was given: a later or corrected rate changes only what reports
convert from then on (see finance.rates.conversion)."""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from core.alerts import alert_raise, alert_resolve
from core.errors import DomainError, NotPermitted
from core.money import currency_validator
from core.roles import Role
from core.timezones import business_date
from finance.models import Payment
from finance.rates.conversion import fix_rate, to_business
from finance.rates.models import RATE_DECIMAL_PLACES, RATE_MAX_DIGITS, ExchangeRate, RateSource
from finance.rates.providers import RateInput, RateProvider, RateSourceError, cross_rates
from finance.rates.selectors import business_currency

# Fetch the provider's recent history instead of its latest day when its newest stored rate is
# older than this (a missed run, a long holiday, a first start).
HISTORY_AFTER = timedelta(days=4)
FETCH_ALERT_KEY = "finance:rates-fetch:{source}"
MISSING_ALERT_KEY = "finance:payment-rate-missing:{currency}"


def rate_checked(*, day, currency, rate) -> tuple[date, str, Decimal]:
    """The three values of a rate, or DomainError naming the field that is wrong."""
    if not isinstance(day, date):
        raise DomainError(_("Enter a date (YYYY-MM-DD)."), field="date")
    if day > business_date():
        raise DomainError(_("A rate cannot be dated in the future."), field="date")
    try:
        currency_validator(currency)
    except Exception as exc:  # noqa: BLE001 - ValidationError or a non-string
        raise DomainError(_("Use a three-letter ISO 4217 code, e.g. USD."), field="currency") from exc
    if currency == business_currency():
        raise DomainError(
            _("%(currency)s is the business currency: its rate is always 1.") % {"currency": currency},
            field="currency",
        )
    if not isinstance(rate, Decimal) or not rate.is_finite() or rate <= 0:
        raise DomainError(_("A rate is a number above zero."), field="rate")
    exponent = rate.normalize().as_tuple().exponent
    if -exponent > RATE_DECIMAL_PLACES or rate.adjusted() >= RATE_MAX_DIGITS - RATE_DECIMAL_PLACES:
        raise DomainError(
            _("At most %(n)s decimal places and %(m)s digits before the point.")
            % {"n": RATE_DECIMAL_PLACES, "m": RATE_MAX_DIGITS - RATE_DECIMAL_PLACES},
            field="rate",
        )
    return day, currency, rate


def rate_save(*, day, currency, rate, actor=None) -> tuple[ExchangeRate, bool]:
    """Store a rate finance imported, replacing the stored one of that day; (rate, created)."""
    if actor is not None and not (
        actor.has_perm("finance.add_exchangerate") and actor.has_perm("finance.change_exchangerate")
    ):
        raise NotPermitted(_("You are not allowed to import exchange rates."))
    day, currency, rate = rate_checked(day=day, currency=currency, rate=rate)
    return ExchangeRate.objects.update_or_create(
        business_currency=business_currency(),
        currency=currency,
        date=day,
        defaults={"rate": rate, "source": RateSource.IMPORT, "basis": ""},
    )


def rates_add(*, rates: list[RateInput], source: str) -> int:
    """Store published rates that are not stored yet (a stored rate is kept); returns how many
    were added. All or nothing: every rate is checked before anything is written."""
    for item in rates:
        try:
            rate_checked(day=item.day, currency=item.currency, rate=item.rate)
        except DomainError as exc:
            raise RateSourceError(
                _("%(source)s: the %(currency)s rate of %(day)s cannot be stored: %(error)s")
                % {"source": source, "currency": item.currency, "day": item.day, "error": exc.message}
            ) from exc
    rows = [
        ExchangeRate(
            business_currency=business_currency(),
            currency=item.currency,
            date=item.day,
            rate=item.rate,
            source=source,
            basis=item.basis,
        )
        for item in rates
    ]
    with transaction.atomic():
        before = ExchangeRate.objects.filter(business_currency=business_currency()).count()
        ExchangeRate.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
        return ExchangeRate.objects.filter(business_currency=business_currency()).count() - before


@dataclass
class Fetched:
    days: list[date]
    added: int
    payments_filled: int


def rates_fetch(*, provider: RateProvider, history: bool | None = None) -> Fetched:
    """Fetch the provider's rates, store the new ones, then fix the rate of payments that were
    waiting for one. Without `history`, the recent history is fetched when the provider's newest
    stored rate is older than HISTORY_AFTER. A failure raises RateSourceError (nothing stored)
    and an alert for finance; the next success resolves it."""
    key = FETCH_ALERT_KEY.format(source=provider.source)
    if history is None:
        newest = ExchangeRate.objects.filter(
            business_currency=business_currency(), source=provider.source
        ).aggregate(day=Max("date"))["day"]
        history = newest is None or business_date() - newest > HISTORY_AFTER
    try:
        published = provider.fetch(history=history)
        added = rates_add(rates=cross_rates(published, business_currency()), source=provider.source)
    except RateSourceError as exc:
        alert_raise(
            kind="finance.rates_fetch_failed",
            key=key,
            role=Role.FINANCE,
            message=_("Exchange rates from %(source)s were not fetched: %(error)s")
            % {"source": provider.source, "error": exc.message},
        )
        raise
    alert_resolve(key=key)
    return Fetched(sorted(published.days), added, payment_rates_fill())


def payment_rate_missing(payment: Payment) -> None:
    """Flag a payment recorded without a rate: one alert per currency until the repair job has
    converted every such payment."""
    alert_raise(
        kind="finance.payment_rate_missing",
        key=MISSING_ALERT_KEY.format(currency=payment.currency),
        role=Role.FINANCE,
        message=_(
            "Payments in %(currency)s are waiting for an exchange rate to %(business)s (first: %(id)s, "
            "paid %(day)s): import the rate or fetch the ECB rates; they are converted when it arrives."
        )
        % {
            "currency": payment.currency,
            "business": business_currency(),
            "id": payment.transaction_id,
            "day": business_date(payment.paid_at).isoformat(),
        },
        payload={"currency": payment.currency, "payment": payment.pk},
    )


def payment_rates_fill(*, batch_size: int = 500) -> int:
    """Give every payment still without a rate the rate of its day, when one is known now; the
    rest wait for the next run. A payment that has a rate is never touched (the rows are locked
    and only those still without one are written). Returns how many were filled."""
    filled, last_id, cache = 0, 0, {}
    waiting = Payment.objects.filter(rate__isnull=True).order_by("pk")
    while True:
        with transaction.atomic():
            batch = list(
                waiting.filter(pk__gt=last_id)
                .select_for_update(skip_locked=True, of=("self",))
                .only("pk", "amount", "currency", "paid_at")[:batch_size]
            )
            changed = []
            for payment in batch:
                key = (payment.currency, business_date(payment.paid_at))
                if key not in cache:  # one lookup per currency and day
                    cache[key] = fix_rate(Decimal(1), payment.currency, payment.paid_at)
                fixed = cache[key]
                if fixed:
                    payment.rate, payment.rate_date = fixed.rate, fixed.rate_date
                    payment.business_amount = to_business(payment.amount, fixed.rate)
                    payment.business_currency = fixed.currency
                    changed.append(payment)
            Payment.objects.bulk_update(
                changed, ["rate", "rate_date", "business_amount", "business_currency"], batch_size=500
            )
        filled += len(changed)
        if len(batch) < batch_size:
            break
        last_id = batch[-1].pk
    still = set(waiting.values_list("currency", flat=True).distinct())
    for currency in {currency for currency, _day in cache} - still:
        alert_resolve(key=MISSING_ALERT_KEY.format(currency=currency))
    return filled
