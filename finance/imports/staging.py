"""A checked statement line, as the check hands it to the preview and the insert, and the staged
file that keeps a batch's checked lines between the check and the confirmed insert (compressed
JSON: one array per line, in StagedLine's field order)."""

import json
import zlib
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple


class StagedLine(NamedTuple):
    row_number: int  # as the spreadsheet shows it
    entry_id: str
    account: str
    kind: str
    occurred_at: datetime  # aware, UTC
    amount: Decimal  # signed: money in is positive
    currency: str
    transaction_id: str
    order_ref: str
    counterparty: str
    memo: str
    description: str
    method: str


OCCURRED_AT = StagedLine._fields.index("occurred_at")
AMOUNT = StagedLine._fields.index("amount")


def _as_text(value: datetime | Decimal) -> str:
    """The values JSON cannot hold: the time (ISO 8601) and the amount."""
    return value.isoformat() if isinstance(value, datetime) else str(value)


def stage(lines: list[StagedLine]) -> bytes:
    text = json.dumps(lines, ensure_ascii=False, separators=(",", ":"), default=_as_text)
    return zlib.compress(text.encode(), 1)


def unstage(data: bytes) -> list[StagedLine]:
    lines = []
    for row in json.loads(zlib.decompress(data)):
        row[OCCURRED_AT] = datetime.fromisoformat(row[OCCURRED_AT])
        row[AMOUNT] = Decimal(row[AMOUNT])
        lines.append(StagedLine._make(row))
    return lines
