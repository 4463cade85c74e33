"""Daily exchange rates: how many units of the business currency one unit of a currency is worth
on a day. One row per (day, currency, business currency): every report and payment uses the same
figure for a day, and `source` says where it came from (an import by finance, or the ECB)."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.money import CurrencyField

# Twelve decimal places: ECB rates have five significant digits, so a cross rate to twelve places
# moves a converted amount of a billion by less than a thousandth of a cent.
RATE_MAX_DIGITS = 24
RATE_DECIMAL_PLACES = 12


def RateField(verbose_name=None, **kwargs):  # noqa: N802 - reads like a field class
    return models.DecimalField(
        verbose_name, max_digits=RATE_MAX_DIGITS, decimal_places=RATE_DECIMAL_PLACES, **kwargs
    )


class RateSource(models.TextChoices):
    IMPORT = "import", _("Imported by finance")
    ECB = "ecb", _("European Central Bank")


class ExchangeRate(models.Model):
    date = models.DateField(_("date"))
    currency = CurrencyField(_("currency"))
    business_currency = CurrencyField(_("business currency"))
    rate = RateField(_("rate"), help_text=_("Units of the business currency for one unit of the currency."))
    source = models.CharField(_("source"), max_length=20, choices=RateSource.choices)
    basis = models.CharField(_("computed from"), max_length=120, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        app_label = "finance"
        ordering = ["-date", "currency"]
        verbose_name = _("exchange rate")
        verbose_name_plural = _("exchange rates")
        constraints = [
            models.UniqueConstraint(
                fields=["business_currency", "currency", "date"], name="exchange_rate_unique_day"
            ),
            models.CheckConstraint(condition=Q(rate__gt=0), name="exchange_rate_positive"),
            models.CheckConstraint(
                condition=~Q(currency=models.F("business_currency")), name="exchange_rate_not_to_itself"
            ),
        ]

    def __str__(self):
        return f"{self.date} {self.currency}/{self.business_currency} {self.rate}"
