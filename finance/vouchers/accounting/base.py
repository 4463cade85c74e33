"""What every accounting adapter shares. An adapter puts one approved voucher into an accounting
system by API (finance.vouchers.push drives it through the outbox). It gets our voucher as a
`VoucherToPush` — account codes already mapped to the system's, one currency, balanced — and
answers the system's own id and number for it, or raises core.outbox.RetryLater /
PermanentFailure (with the system's message).

Every adapter must make a retried push create nothing twice: each voucher carries `reference`
(CONDUIT-VB<batch>-<voucher no>, the same on every attempt) and the adapter uses the system's own
idempotency where it is published, otherwise looks the reference up before creating. Which one
each adapter uses is said in its module docstring.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol

import httpx
from django.utils.translation import gettext as _

from core.http import send_for_outbox
from core.outbox import outbox_failure
from finance.vouchers.models import AccountingProvider, AccountingSystem


@dataclass(frozen=True)
class VoucherLine:
    summary: str
    account: str  # the accounting system's account code
    debit: Decimal
    credit: Decimal


@dataclass(frozen=True)
class VoucherToPush:
    reference: str  # our idempotency reference in the accounting system
    number: int  # our voucher_no within the batch
    date: date
    year: int
    month: int
    currency: str
    lines: tuple[VoucherLine, ...]


@dataclass(frozen=True)
class PushedVoucher:
    id: str  # the system's internal id of the voucher
    number: str  # the number the system gave it


class VoucherAdapter(Protocol):
    def push(self, voucher: VoucherToPush) -> PushedVoucher: ...


# What each system needs in AccountingSystem.options and .credentials (one of a tuple suffices).
REQUIRED_OPTIONS = {
    AccountingProvider.KINGDEE: ("account_book", "voucher_group"),
    AccountingProvider.YONYOU: ("accbook_code", "voucher_type_code", ("maker_mobile", "maker_email")),
}
REQUIRED_CREDENTIALS = {
    AccountingProvider.KINGDEE: ("acctid", "username", "password"),
    AccountingProvider.YONYOU: ("app_key", "app_secret"),
}


def _missing(values: dict, required: tuple) -> list[str]:
    missing = []
    for name in required:
        names = name if isinstance(name, tuple) else (name,)
        if not any(str(values.get(n) or "").strip() for n in names):
            missing.append(" / ".join(names))
    return missing


def options_problem(system: AccountingSystem) -> str:
    """Why the system's options cannot push a voucher, or ""."""
    if not isinstance(system.options, dict) or not isinstance(system.account_map, dict):
        return _("Options and account codes are JSON objects.")
    missing = _missing(system.options, REQUIRED_OPTIONS.get(system.provider, ()))
    if missing:
        return _("Give %(names)s.") % {"names": ", ".join(missing)}
    if system.provider == AccountingProvider.YONYOU and not system.auth_url:
        return _("Give the token address of Yonyou's iuap-api-auth.")
    return ""


def credentials_problem(system: AccountingSystem) -> str:
    credentials = system.credentials if isinstance(system.credentials, dict) else {}
    missing = _missing(credentials, REQUIRED_CREDENTIALS.get(system.provider, ()))
    if missing:
        return f"{system.name}: the login lacks {', '.join(missing)}"
    return ""


# Seconds to wait before retrying when a rate-limited system does not say (Retry-After).
DEFAULT_RETRY_AFTER = 30.0


def call(platform: str, request) -> httpx.Response:
    """One HTTP call with the outbox's rule: no answer, 408, 425, 429 and 5xx are retried later,
    any other 4xx is a refusal."""
    return send_for_outbox(platform, request, DEFAULT_RETRY_AFTER)


def answer_json(platform: str, response: httpx.Response):
    """The JSON a system answered. Text that is not JSON (a proxy's error page, a gateway's plain
    "非法token") is a refusal naming the text: retrying the same request would get it again."""
    try:
        return response.json()
    except ValueError as exc:
        raise outbox_failure(
            f"{platform}: the answer is not JSON: {response.text[:200]}", temporary=False
        ) from exc
