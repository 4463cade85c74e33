"""Money is a Decimal amount with an ISO 4217 currency code; never a float."""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

MONEY_MAX_DIGITS = 18
MONEY_DECIMAL_PLACES = 2
CENT = Decimal("0.01")
ZERO = Decimal("0.00")

currency_validator = RegexValidator(r"^[A-Z]{3}$", _("Use a three-letter ISO 4217 code, e.g. CNY."))


def MoneyField(verbose_name=None, **kwargs):  # noqa: N802 - reads like a field class
    kwargs.setdefault("default", ZERO)
    return models.DecimalField(
        verbose_name, max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_DECIMAL_PLACES, **kwargs
    )


def CurrencyField(verbose_name=None, **kwargs):  # noqa: N802
    return models.CharField(
        verbose_name or _("currency"), max_length=3, validators=[currency_validator], **kwargs
    )


def quantize(amount: Decimal) -> Decimal:
    return Decimal(amount).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Money:
    amount: Decimal
    currency: str

    def __post_init__(self):
        if not isinstance(self.amount, Decimal):
            raise TypeError("Money amounts are Decimal")

    def __add__(self, other: "Money") -> "Money":
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(self.amount + other.amount, self.currency)

    def __str__(self):
        return f"{self.currency} {quantize(self.amount):,}"
