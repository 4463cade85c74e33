"""Cycle counts (R-I9): a warehouse uploads what it counted, a manager reviews the differences
and approves them into the ledger, or the draft is cancelled.

    sheet.py     reading and validating an uploaded count sheet; the empty template
    services.py  upload (store a draft), approve (post the differences), cancel
"""

from inventory.cycle_counts.services import cycle_count_approve, cycle_count_cancel, cycle_count_upload
from inventory.cycle_counts.sheet import CycleCountFileError, RowError, cycle_count_template

__all__ = [
    "CycleCountFileError",
    "RowError",
    "cycle_count_approve",
    "cycle_count_cancel",
    "cycle_count_template",
    "cycle_count_upload",
]
