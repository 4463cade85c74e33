"""The e-invoice provider interface: issue a blue invoice, ask how it went, reverse it (red-letter).
finance.invoices.nuonuo is the one adapter today; another provider plugs in by implementing
`InvoiceProvider` and being named in `PROVIDERS` (setting INVOICE_PROVIDER picks one).

Transport failures (no answer, 408/425/429/5xx) are raised as core.http PlatformError /
RateLimited, which the outbox retries; a refusal stated by the provider is `ProviderRefused`."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from finance.invoices.amounts import RateLine


class ProviderRefused(Exception):
    """The provider said no (an error code in its answer). `duplicate`: it already holds a request
    with this order number — the submission went through before."""

    def __init__(self, message: str, *, code: str = "", duplicate: bool = False):
        super().__init__(message)
        self.code = code
        self.duplicate = duplicate


@dataclass(frozen=True)
class BlueInvoice:
    number: str  # our request number = the provider's order number
    buyer_title: str
    buyer_tax_id: str
    buyer_email: str
    buyer_phone: str
    special: bool
    lines: list[RateLine]
    ordered_at: datetime


@dataclass(frozen=True)
class RedInvoice:
    number: str  # the red invoice's own order number
    blue_number: str  # our blue request number
    blue_invoice_number: str  # the tax office's number of the blue invoice
    buyer_title: str
    buyer_tax_id: str
    special: bool
    # Partial: the negative amount per blue line (index = the blue detail line, from 1). Empty: all.
    lines: list[tuple[int, RateLine]] = field(default_factory=list)


ISSUING, ISSUED, FAILED, MISSING = "issuing", "issued", "failed", "missing"


@dataclass(frozen=True)
class InvoiceResult:
    order_number: str
    status: str  # ISSUING / ISSUED / FAILED / MISSING
    serial: str = ""
    invoice_number: str = ""
    pdf_url: str = ""
    ofd_url: str = ""
    issued_at: datetime | None = None
    amount: Decimal | None = None  # price and tax, as the provider states it
    error: str = ""


class InvoiceProvider(Protocol):
    name: str

    def configured(self) -> bool: ...

    def issue(self, invoice: BlueInvoice) -> str:
        """Submit a blue invoice; returns the provider's serial number."""

    def reissue(self, number: str) -> None:
        """Submit again an invoice the provider accepted and then failed to issue (same number)."""

    def query(self, numbers: list[str]) -> dict[str, InvoiceResult]:
        """The state of these order numbers (blue or red) at the provider."""

    def reverse(self, invoice: RedInvoice) -> str:
        """Ask for a red-letter reversal; returns the provider's reference for it."""
