"""Running a whole transaction again when PostgreSQL aborted it for a deadlock or a serialization
failure (SQLSTATE 40P01, 40001). PostgreSQL's documentation (13.2.2, 13.4) asks this of clients:
such a failure says nothing about the work itself, and the same work run again normally succeeds.

Only the outermost transaction may be run again: inside another one, the abort belongs to the
caller, whose own earlier work was lost with it."""

import logging
import random
import time

from django.db import DEFAULT_DB_ALIAS, DatabaseError, transaction

logger = logging.getLogger(__name__)

TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure


def is_transient(exc: BaseException) -> bool:
    """Whether a database error (Django's, or the driver's it wraps) is a deadlock or a
    serialization failure."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:  # a chain that loops ends the walk
        if getattr(exc, "sqlstate", None) in TRANSIENT_SQLSTATES:
            return True
        seen.add(id(exc))
        exc = exc.__cause__
    return False


def run_again_when_transient(work, *, attempts: int = 3, using: str = DEFAULT_DB_ALIAS):
    """work() — one whole transaction — up to `attempts` times while it fails transiently."""
    for attempt in range(1, attempts):
        try:
            return work()
        except DatabaseError as exc:
            if not is_transient(exc) or transaction.get_connection(using).in_atomic_block:
                raise
            logger.warning("transaction aborted (%s), running it again (attempt %s)", exc, attempt + 1)
            # A short random pause, so that the two transactions that met do not meet again.
            time.sleep(random.uniform(0.0, 0.05 * attempt))
    return work()  # the last attempt: whatever it raises is the caller's
