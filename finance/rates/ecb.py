"""The European Central Bank's euro foreign exchange reference rates.

Source: https://www.ecb.europa.eu/stats/policy_and_exchange_rates/euro_reference_exchange_rates/
— "usually updated around 16:00 CET on every working day, except on TARGET closing days"; all
currencies are quoted against the euro. Files: eurofxref-daily.xml (the latest day) and
eurofxref-hist-90d.xml (the last 90 days), both a gesmes:Envelope whose Cube holds one
<Cube time="YYYY-MM-DD"> per day with <Cube currency="USD" rate="1.0705"/> per currency.
"""

import re
import time
from datetime import date
from decimal import Decimal, InvalidOperation
from xml.etree.ElementTree import ParseError

import httpx
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from django.conf import settings
from django.utils.translation import gettext as _

from finance.rates.models import RateSource
from finance.rates.providers import PublishedRates, RateSourceError

NAMESPACE = "{http://www.ecb.int/vocabulary/2002-08-01/eurofxref}"
DAILY_FILE = "eurofxref-daily.xml"
HISTORY_FILE = "eurofxref-hist-90d.xml"
MAX_BYTES = 2 * 1024 * 1024  # the 90-day file is about 150 kB
CURRENCY = re.compile(r"^[A-Z]{3}$")


class EcbProvider:
    source = RateSource.ECB

    def __init__(self, *, http: httpx.Client | None = None):
        self.http = http

    def fetch(self, *, history: bool = False) -> PublishedRates:
        url = settings.ECB_RATES_URL.rstrip("/") + "/" + (HISTORY_FILE if history else DAILY_FILE)
        return PublishedRates(source="ECB", base="EUR", days=parse(self._download(url), url))

    def _download(self, url: str) -> bytes:
        """The file, read within ECB_TIMEOUT_SECONDS in all and at most MAX_BYTES long."""
        seconds = settings.ECB_TIMEOUT_SECONDS
        http = self.http or httpx.Client()
        deadline = time.monotonic() + seconds
        try:
            with http.stream("GET", url, timeout=httpx.Timeout(seconds)) as response:
                if not response.is_success:
                    raise RateSourceError(
                        _("The ECB answered HTTP %(status)s for %(url)s.")
                        % {"status": response.status_code, "url": url}
                    )
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_BYTES:
                        raise RateSourceError(_("The ECB file is over %(n)s bytes.") % {"n": MAX_BYTES})
                    if time.monotonic() > deadline:
                        raise httpx.ReadTimeout("the whole answer took too long")
        except httpx.HTTPError as exc:
            raise RateSourceError(
                _("The ECB rates could not be fetched from %(url)s: %(error)s")
                % {"url": url, "error": f"{exc.__class__.__name__}: {exc}"}
            ) from exc
        finally:
            if self.http is None:
                http.close()
        return bytes(body)


def parse(body: bytes, origin: str = "") -> dict[date, dict[str, Decimal]]:
    """Every day's rates in the document; RateSourceError naming the first thing that is wrong."""
    try:
        root = fromstring(body)
    except (ParseError, DefusedXmlException) as exc:
        raise RateSourceError(
            _("The ECB file %(origin)s is not valid XML: %(error)s") % {"origin": origin, "error": exc}
        ) from exc
    if not root.tag.endswith("}Envelope"):
        raise RateSourceError(_("The ECB file %(origin)s is not a gesmes:Envelope.") % {"origin": origin})
    days: dict[date, dict[str, Decimal]] = {}
    for cube in root.iter(f"{NAMESPACE}Cube"):
        if "time" in cube.attrib:
            day = _day(cube.attrib["time"])
            if day in days:
                raise RateSourceError(_("The ECB file lists %(day)s twice.") % {"day": day.isoformat()})
            days[day] = _rates(cube, day)
    if not days:
        raise RateSourceError(_("The ECB file %(origin)s holds no rates.") % {"origin": origin})
    return days


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise RateSourceError(_("The ECB file has a bad date “%(value)s”.") % {"value": text[:40]}) from None


def _rates(cube, day: date) -> dict[str, Decimal]:
    rates: dict[str, Decimal] = {}
    for entry in cube.findall(f"{NAMESPACE}Cube"):
        currency, text = entry.attrib.get("currency", ""), entry.attrib.get("rate", "")
        where = {"day": day.isoformat(), "currency": currency[:10], "value": text[:40]}
        if not CURRENCY.match(currency) or currency in rates:
            raise RateSourceError(
                _("The ECB file has a bad or repeated currency “%(currency)s” on %(day)s.") % where
            )
        try:
            rate = Decimal(text)
        except InvalidOperation:
            rate = None
        if rate is None or not rate.is_finite() or rate <= 0:
            raise RateSourceError(
                _("The ECB file has a bad %(currency)s rate “%(value)s” on %(day)s.") % where
            )
        rates[currency] = rate
    if not rates:
        raise RateSourceError(_("The ECB file has no rates on %(day)s.") % {"day": day.isoformat()})
    return rates
