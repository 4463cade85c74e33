"""Cycle counts (R-I9): a warehouse uploads what it counted, a manager reviews the differences
and approves them into the ledger, or the draft is cancelled.

    sheet.py     reading (through core.sheets) and validating a count sheet; the empty template
    uploads.py   the desk's upload: stored, then read by a worker into a draft (or refused)
    services.py  upload (store a draft from a sheet), approve (post the differences), cancel
"""

from inventory.cycle_counts.services import cycle_count_approve, cycle_count_cancel, cycle_count_upload
from inventory.cycle_counts.sheet import CycleCountFileError, RowError, cycle_count_template
from inventory.cycle_counts.uploads import (
    cycle_count_upload_queue,
    cycle_count_upload_read,
    cycle_count_uploads_sweep,
)

__all__ = [
    "CycleCountFileError",
    "RowError",
    "cycle_count_approve",
    "cycle_count_cancel",
    "cycle_count_template",
    "cycle_count_upload",
    "cycle_count_upload_queue",
    "cycle_count_upload_read",
    "cycle_count_uploads_sweep",
]
