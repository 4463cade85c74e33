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


class MoneySum(models.Sum):
    """SUM of money (amounts in cents: a MoneyField, or such a field times a whole number), exact
    to the cent on every database, as a Decimal with two places.

    PostgreSQL sums numeric exactly. SQLite (make run's embedded default) keeps decimals as REAL
    and SUM adds binary floats: a total can drift off its cents, and Django hands an aggregate back
    with fifteen significant digits (212.800000000000), so the same figure reads differently from a
    stored one. There each amount is summed as whole cents (INTEGER, exact) and divided back once:
    exact up to 10^13, the 15 digits SQLite keeps of any stored amount anyway."""

    output_field = models.DecimalField(max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_DECIMAL_PLACES)

    def as_sqlite(self, compiler, connection, **extra_context):
        cents = self.copy()
        amount, *rest = cents.get_source_expressions()
        whole_cents = models.Func(
            amount,
            template="CAST(ROUND((%(expressions)s) * 100) AS INTEGER)",
            output_field=models.IntegerField(),
        )
        cents.set_source_expressions([whole_cents, *rest])
        sql, params = super(MoneySum, cents).as_sql(compiler, connection, **extra_context)
        return f"({sql} / 100.0)", params

    def convert_value(self, value, expression, connection):
        return None if value is None else quantize(value)


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
