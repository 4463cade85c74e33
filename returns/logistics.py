"""Return logistics (R-R3): the customer's return tracking number, finding the RMA a scanned code
names, and receiving the parcel at a warehouse."""

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from core.errors import DomainError
from core.transitions import Actor, require_state
from fulfilment.models import Carrier
from inventory.models import Warehouse
from returns.models import RECEIVABLE, ReturnRequest
from returns.transitions import lock_rma, run_rma_transition


def rma_set_tracking(
    *, rma: ReturnRequest | int, tracking_number: str, carrier: Carrier | None = None, actor: Actor = None
) -> ReturnRequest:
    """The customer (or an agent for them) says how the goods come back."""
    tracking_number = (tracking_number or "").strip()
    if not tracking_number or len(tracking_number) > 64:
        raise DomainError(
            _("Enter the return tracking number (at most 64 characters)."), field="tracking_number"
        )
    with transaction.atomic():
        rma = lock_rma(rma)
        run_rma_transition(
            rma,
            "await_return",
            actor,
            args={"carrier": carrier, "tracking_number": tracking_number},
            payload={"tracking_number": tracking_number, "carrier": carrier.code if carrier else ""},
        )
    return rma


def rma_for_scan(code: str) -> ReturnRequest:
    """What a scanned code names: an RMA number, a return tracking number, or an order number
    with exactly one RMA whose goods are expected."""
    code = (code or "").strip()
    if not code:
        raise DomainError(_("Scan an RMA or order number."), field="code")
    found = ReturnRequest.objects.filter(number__iexact=code).first()
    if found is not None:
        return found
    expected = list(
        ReturnRequest.objects.filter(status__in=RECEIVABLE)
        .filter(Q(order__number__iexact=code) | Q(return_tracking_number=code) | Q(order__external_id=code))
        .order_by("pk")[:3]  # enough to tell one from several and name a few
    )
    if not expected:
        raise DomainError(_("No return is expected for “%(code)s”.") % {"code": code[:64]}, field="code")
    if len(expected) > 1:
        raise DomainError(
            _("Several returns are expected for “%(code)s” (%(numbers)s): scan the RMA number.")
            % {"code": code[:64], "numbers": ", ".join(r.number for r in expected)},
            field="code",
        )
    return expected[0]


def rma_receive(
    *, rma: ReturnRequest | int, warehouse: Warehouse, actor: Actor = None, expected_status: str | None = None
) -> ReturnRequest:
    """The parcel arrived at a warehouse; what is in it is graded by inspection."""
    if warehouse is None or not warehouse.is_active:
        raise DomainError(_("Choose the receiving warehouse."), field="warehouse")
    with transaction.atomic():
        rma = lock_rma(rma)
        require_state(rma, expected_status)
        run_rma_transition(
            rma,
            "receive",
            actor,
            args={"warehouse": warehouse, "by": actor},
            payload={"warehouse": warehouse.code},
        )
    return rma
