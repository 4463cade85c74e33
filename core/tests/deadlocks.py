"""A test double for a transaction PostgreSQL aborts for a deadlock (see core.transient)."""

import psycopg
from django.db import OperationalError


def deadlocking_once(real_batch):
    """(stand-in, calls): the stand-in runs `real_batch(**kwargs)` (everything written), then the
    first time raises the deadlock Django raises; `calls` records each call's number of items."""
    calls = []

    def stand_in(**kwargs):
        results = real_batch(**kwargs)
        calls.append(len(kwargs["items"]))
        if len(calls) == 1:
            raise OperationalError("deadlock detected") from psycopg.errors.DeadlockDetected(
                "deadlock detected"
            )
        return results

    return stand_in, calls
