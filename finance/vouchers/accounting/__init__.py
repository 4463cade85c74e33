"""Adapters that put one approved voucher into an accounting system by API (finance.vouchers.push
drives them through the outbox). An adapter gets our voucher as a `VoucherToPush` — account codes
already mapped to the system's, one currency, balanced — and answers the system's own id and
number for it, or raises core.outbox.RetryLater / PermanentFailure (with the system's message).

Every adapter must make a retried push create nothing twice: each voucher carries `reference`
(CONDUIT-VB<batch>-<voucher no>, the same on every attempt) and the adapter uses the system's own
idempotency where it is published, otherwise looks the reference up before creating. Which one
each adapter uses is said in its module docstring.
"""

import httpx

from finance.vouchers.accounting.base import (
    PushedVoucher,
    VoucherAdapter,
    VoucherLine,
    VoucherToPush,
    credentials_problem,
    options_problem,
)
from finance.vouchers.accounting.kingdee import KingdeeAdapter
from finance.vouchers.accounting.yonyou import YonyouAdapter
from finance.vouchers.models import AccountingProvider, AccountingSystem

__all__ = [
    "PushedVoucher",
    "VoucherAdapter",
    "VoucherLine",
    "VoucherToPush",
    "adapter_for",
    "credentials_problem",
    "options_problem",
]

ADAPTERS = {AccountingProvider.KINGDEE: KingdeeAdapter, AccountingProvider.YONYOU: YonyouAdapter}


def adapter_for(system: AccountingSystem, http: httpx.Client) -> VoucherAdapter:
    return ADAPTERS[system.provider](system, http)
