"""What reports show of a conversion: the cells of a converted column and a summary line that
keeps the original currencies and counts what could not be converted."""

from decimal import Decimal

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from finance.rates.conversion import Converted
from finance.rates.selectors import business_currency


def in_business(label) -> str:
    """A column header such as "Net (CNY)"."""
    return _("%(label)s (%(currency)s)") % {"label": label, "currency": business_currency()}


def rate_header() -> str:
    return _("Rate to %(currency)s") % {"currency": business_currency()}


def rate_cell(rate: Decimal | None):
    return rate.normalize() if rate is not None else _("no rate")


def amount_cell(amount: Decimal | None):
    return amount if amount is not None else _("not converted")


def summary(label, total: Converted) -> str:
    """E.g. "Net: 1,234.56 CNY (1,000.00 CNY + 32.00 USD); not converted, no rate: 2 orders,
    12.00 EUR"."""
    text = _("%(label)s: %(amount)s %(currency)s") % {
        "label": label,
        "amount": f"{total.amount:,}",
        "currency": total.currency,
    }
    if total.original:
        text += f" ({total.originals()})"
    if not total.complete:
        text += "; " + ngettext(
            "not converted, no rate: %(n)s order, %(amounts)s",
            "not converted, no rate: %(n)s orders, %(amounts)s",
            total.missing_count,
        ) % {"n": total.missing_count, "amounts": total.not_converted()}
    return text
