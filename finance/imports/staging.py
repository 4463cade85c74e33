"""A checked statement line, as the check hands it to the preview and the insert, and the staged
file that keeps a batch's checked lines between the check and the confirmed insert (compressed
JSON: {"columns": one array per field of StagedLine, in its order}; a file staged by an earlier
version holds one array per line, and is still read).

By columns, because then the work is JSON's and map's (C), not a Python call per line and value:
100k lines stage in ~0.1 s rather than 0.35 s, and come back in ~0.1 s rather than 0.2 s."""

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


def _columns(rows) -> list:
    return list(zip(*rows, strict=True)) or [() for _field in StagedLine._fields]


def stage(lines: list[StagedLine]) -> bytes:
    columns = _columns(lines)
    columns[OCCURRED_AT] = list(map(datetime.isoformat, columns[OCCURRED_AT]))
    columns[AMOUNT] = list(map(str, columns[AMOUNT]))
    text = json.dumps({"columns": columns}, ensure_ascii=False, separators=(",", ":"))
    return zlib.compress(text.encode(), 1)


def unstage(data: bytes) -> list[StagedLine]:
    staged = json.loads(zlib.decompress(data))
    # one array per line: staged before the columns
    columns = _columns(staged) if isinstance(staged, list) else staged["columns"]
    columns[OCCURRED_AT] = map(datetime.fromisoformat, columns[OCCURRED_AT])
    columns[AMOUNT] = map(Decimal, columns[AMOUNT])
    return list(map(StagedLine._make, zip(*columns, strict=True)))
