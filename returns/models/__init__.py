"""Returns and exchanges (SPEC R-R1–R-R4, §6), one module per concern:

- policy: the return policy per channel and the items that cannot be returned;
- rma: the return authorisation (RMA), its states and its lines with what inspection found;
- attachment: files attached to an RMA;
- reading: what OCR read from an attached invoice or receipt image;
- refund: the refund an RMA triggered.

Everything is re-exported here, so `from returns.models import ReturnRequest` is the one way in.
Migration 0001 names `returns.models.default_window_days` and `returns.models.attachment_path`,
which this re-export keeps importable.
"""

from returns.models.attachment import ReturnAttachment, attachment_path
from returns.models.policy import ReturnExclusion, ReturnPolicy, default_window_days
from returns.models.reading import AttachmentReading, ReadingState
from returns.models.refund import RefundProvider, RefundState, ReturnRefund
from returns.models.rma import (
    OPEN,
    RECEIVABLE,
    SELLER_AT_FAULT,
    VOID,
    R,
    ReturnKind,
    ReturnLine,
    ReturnReason,
    ReturnRequest,
    ReturnSource,
    ReturnStatus,
)

__all__ = [
    "OPEN",
    "RECEIVABLE",
    "SELLER_AT_FAULT",
    "VOID",
    "AttachmentReading",
    "R",
    "ReadingState",
    "RefundProvider",
    "RefundState",
    "ReturnAttachment",
    "ReturnExclusion",
    "ReturnKind",
    "ReturnLine",
    "ReturnPolicy",
    "ReturnReason",
    "ReturnRefund",
    "ReturnRequest",
    "ReturnSource",
    "ReturnStatus",
    "attachment_path",
    "default_window_days",
]
