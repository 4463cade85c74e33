"""The ECB adapter against a fake ECB on localhost answering with the ECB's own files
(finance/tests/fixtures/ecb: eurofxref-daily.xml of 2024-06-28, and the eurofxref-hist-90d.xml
shape). Rates are stored as cross rates to CNY; timeouts, HTTP errors and bad XML store nothing."""

import io
import threading
import time
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from config.beat import PERIODIC_TASKS
from core.models import Alert, AlertState
from core.timezones import business_date
from finance.rates.ecb import EcbProvider
from finance.rates.models import ExchangeRate, RateSource
from finance.rates.providers import RateSourceError
from finance.rates.services import rates_fetch
from finance.tasks import fetch_exchange_rates
from finance.tests.currencies import order_in, pay, rate
from finance.tests.test_rates import FRIDAY, exact_cross

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).parent / "fixtures" / "ecb"
DAILY = (FIXTURES / "eurofxref-daily-2024-06-28.xml").read_bytes()
HISTORY = (FIXTURES / "eurofxref-hist-sample.xml").read_bytes()
PREFIX = "/stats/eurofxref/"


class FakeEcb(ThreadingHTTPServer):
    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.files = {"eurofxref-daily.xml": (200, DAILY), "eurofxref-hist-90d.xml": (200, HISTORY)}
        self.delay = 0.0
        self.requested: list[str] = []


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802 - http.server's naming
        server: FakeEcb = self.server
        server.requested.append(self.path)
        status, body = server.files.get(self.path.removeprefix(PREFIX), (404, b"<html>Not found</html>"))
        self.send_response(status)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        time.sleep(server.delay)
        self.wfile.write(body)


@pytest.fixture
def ecb(settings):
    server = FakeEcb()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.ECB_RATES_URL = f"http://127.0.0.1:{server.server_address[1]}{PREFIX}"
    settings.ECB_TIMEOUT_SECONDS = 2.0
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_the_daily_file_becomes_cross_rates_to_cny(ecb):
    rate(FRIDAY, "USD", "7.1000")  # imported by finance before: kept

    fetched = rates_fetch(provider=EcbProvider(), history=False)

    assert ecb.requested == [f"{PREFIX}eurofxref-daily.xml"]
    assert fetched.days == [FRIDAY] and fetched.added == 29  # 29 other currencies + EUR − USD kept
    stored = {r.currency: r for r in ExchangeRate.objects.filter(date=FRIDAY)}
    assert len(stored) == 30 and "CNY" not in stored
    assert stored["USD"].rate == Decimal("7.1000") and stored["USD"].source == RateSource.IMPORT
    assert stored["EUR"].rate == Decimal("7.7748") and stored["EUR"].source == RateSource.ECB
    assert stored["JPY"].rate == exact_cross("7.7748", "171.94")
    assert stored["GBP"].rate == exact_cross("7.7748", "0.84638")
    assert stored["GBP"].basis == "EUR/CNY 7.7748 ÷ EUR/GBP 0.84638"
    assert {r.business_currency for r in stored.values()} == {"CNY"}

    again = rates_fetch(provider=EcbProvider(), history=False)
    assert again.added == 0 and ExchangeRate.objects.count() == 30


def test_the_history_is_fetched_when_the_last_fetch_is_days_old(ecb):
    fetched = rates_fetch(provider=EcbProvider())  # nothing stored yet: catch up

    assert ecb.requested == [f"{PREFIX}eurofxref-hist-90d.xml"]
    assert fetched.days == [FRIDAY.replace(year=2015, month=2, day=12), FRIDAY]
    assert ExchangeRate.objects.get(date="2015-02-12", currency="RUB").rate == exact_cross(
        "7.0730", "75.2935"
    )
    assert ExchangeRate.objects.filter(date=FRIDAY).count() == 30

    ExchangeRate.objects.create(
        date=business_date() - timedelta(days=1),
        currency="USD",
        business_currency="CNY",
        rate=7,
        source="ecb",
    )
    rates_fetch(provider=EcbProvider())  # up to date: the latest day only
    assert ecb.requested[-1] == f"{PREFIX}eurofxref-daily.xml"


def test_a_timeout_stores_nothing_and_alerts_finance_until_a_fetch_succeeds(ecb, settings):
    settings.ECB_TIMEOUT_SECONDS = 0.3
    ecb.delay = 1.0

    with pytest.raises(RateSourceError, match="Timeout"):
        rates_fetch(provider=EcbProvider(), history=False)

    assert not ExchangeRate.objects.exists()
    alert = Alert.objects.get(key="finance:rates-fetch:ecb")
    assert alert.state != AlertState.RESOLVED and "not fetched" in alert.message

    ecb.delay = 0.0
    settings.ECB_TIMEOUT_SECONDS = 2.0
    rates_fetch(provider=EcbProvider(), history=False)
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED


BAD_RATE = DAILY.replace(b"rate='171.94'", b"rate='171,94'")
NO_CNY = DAILY.replace(b"<Cube currency='CNY' rate='7.7748'/>", b"")
BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
    b"<lolz>&lol2;</lolz>"
)


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (200, DAILY[: len(DAILY) // 2], "not valid XML"),
        (200, b"<html><body>Maintenance</body></html>", "not a gesmes:Envelope"),
        (200, BAD_RATE, "bad JPY rate “171,94” on 2024-06-28"),
        (200, NO_CNY, "no CNY rate on 2024-06-28"),
        (200, BOMB, "not valid XML"),
        (200, DAILY.replace(b"time='2024-06-28'", b"time='28/06/2024'"), "bad date “28/06/2024”"),
        (503, b"<html>busy</html>", "HTTP 503"),
        (200, DAILY.replace(b"time='2024-06-28'", b"time='2099-01-01'"), "dated in the future"),
    ],
)
def test_a_bad_answer_is_a_clear_error_and_nothing_is_stored(ecb, status, body, message):
    ecb.files["eurofxref-daily.xml"] = (status, body)

    with pytest.raises(RateSourceError) as error:
        rates_fetch(provider=EcbProvider(), history=False)

    assert message in error.value.message
    assert not ExchangeRate.objects.exists()


def test_the_daily_task_converts_payments_that_waited_for_a_rate(ecb, django_capture_on_commit_callbacks):
    order = order_in("USD", "10.01", FRIDAY)
    payment = pay(order, FRIDAY)
    assert payment.rate is None and payment.business_amount is None
    assert Alert.objects.filter(key="finance:payment-rate-missing:USD").exclude(state=AlertState.RESOLVED)

    outcome = fetch_exchange_rates.delay(history=False).get()

    assert outcome.endswith("1 payments converted")
    payment.refresh_from_db()
    usd = exact_cross("7.7748", "1.0705")
    assert (payment.rate, payment.rate_date, payment.business_currency) == (usd, FRIDAY, "CNY")
    assert payment.business_amount == Decimal("72.70")  # 10.01 × 7.262774404484 = 72.7003…
    assert not Alert.objects.filter(key="finance:payment-rate-missing:USD").exclude(state=AlertState.RESOLVED)


def test_the_fetch_runs_daily_after_the_ecb_publishes():
    (schedule,) = [s for s in PERIODIC_TASKS if s.task == "finance.tasks.fetch_exchange_rates"]
    assert schedule.crontab == {"minute": "30", "hour": "15"}  # 15:30 UTC, after ~16:00 CET
    assert any(s.task == "finance.tasks.fill_payment_rates" for s in PERIODIC_TASKS)


def test_the_command_fetches_by_hand_and_fails_with_the_reason(ecb):
    out = io.StringIO()
    call_command("fetch_exchange_rates", "--history", stdout=out)
    assert "61 rate(s) added for 2 day(s) (2015-02-12 … 2024-06-28)" in out.getvalue()  # 30 + 31

    ecb.files["eurofxref-hist-90d.xml"] = (500, b"oops")  # still behind: the history again
    with pytest.raises(CommandError, match="HTTP 500"):
        call_command("fetch_exchange_rates")
