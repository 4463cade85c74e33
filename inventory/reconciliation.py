"""R-I1: balances are caches of the ledger. Recompute them from the movements, report every
drift, and repair it: the balance is set back to the ledger's sums and the repair is written to
the ledger as a zero-delta `reconcile` movement that records what was wrong."""

from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from core.alerts import alert_raise
from core.roles import Role
from inventory import ledger
from inventory.models import HOLDING, MovementKind, StockBalance, StockMovement


@dataclass(frozen=True)
class Drift:
    balance_id: int
    sku_code: str
    cached: tuple[int, int, int]
    ledger: tuple[int, int, int]
    reservations_held: int

    @property
    def repairable(self) -> bool:
        return min(self.ledger) >= 0 and self.ledger[0] - self.ledger[1] - self.ledger[2] >= 0


_DRIFT_SQL = """
SELECT b.id, s.code, b.on_hand, b.reserved, b.qc_hold,
       COALESCE(m.on_hand, 0), COALESCE(m.reserved, 0), COALESCE(m.qc_hold, 0), COALESCE(h.held, 0)
  FROM inventory_stockbalance b
  JOIN inventory_sku s ON s.id = b.sku_id
  LEFT JOIN (SELECT balance_id, SUM(on_hand_delta) AS on_hand, SUM(reserved_delta) AS reserved,
                    SUM(qc_hold_delta) AS qc_hold
               FROM inventory_stockmovement GROUP BY balance_id) m ON m.balance_id = b.id
  LEFT JOIN (SELECT balance_id, SUM(quantity) AS held
               FROM inventory_reservation WHERE state IN (%s, %s)
              GROUP BY balance_id) h ON h.balance_id = b.id
 WHERE b.on_hand <> COALESCE(m.on_hand, 0) OR b.reserved <> COALESCE(m.reserved, 0)
    OR b.qc_hold <> COALESCE(m.qc_hold, 0) OR b.reserved <> COALESCE(h.held, 0)
 ORDER BY b.id
"""


def find_drift() -> list[Drift]:
    """One set-based statement (one snapshot): balances whose cached figures differ from their
    ledger's sums, or whose `reserved` differs from what their holding reservations hold."""
    with connection.cursor() as cursor:
        cursor.execute(_DRIFT_SQL, list(HOLDING))
        return [
            Drift(row[0], row[1], tuple(row[2:5]), tuple(int(v) for v in row[5:8]), int(row[8]))
            for row in cursor.fetchall()
        ]


def stock_reconcile(*, repair: bool = True, actor=None) -> list[Drift]:
    drifts = find_drift()
    for drift in drifts:
        if drift.cached != drift.ledger and repair and drift.repairable:
            _repair(drift, actor)
        alert_raise(
            kind="stock_drift",
            key=f"stock_drift:{drift.balance_id}",
            role=Role.MANAGER,
            message=_(
                "Stock of %(sku)s drifted from its ledger: cached %(cached)s, ledger %(ledger)s, "
                "reservations hold %(held)s."
            )
            % {
                "sku": drift.sku_code,
                "cached": drift.cached,
                "ledger": drift.ledger,
                "held": drift.reservations_held,
            },
            payload={
                "balance": drift.balance_id,
                "cached": drift.cached,
                "ledger": drift.ledger,
                "repaired": repair and drift.repairable,
            },
        )
    return drifts


def _repair(drift: Drift, actor) -> None:
    """Recompute under the row lock: writers may have moved on since the report was read."""
    with transaction.atomic():
        ledger.lock_balances([drift.balance_id])
        balance = StockBalance.objects.get(pk=drift.balance_id)
        sums = StockMovement.objects.filter(balance=balance).aggregate(
            on_hand=Coalesce(Sum("on_hand_delta"), 0),
            reserved=Coalesce(Sum("reserved_delta"), 0),
            qc_hold=Coalesce(Sum("qc_hold_delta"), 0),
        )
        before = [balance.on_hand, balance.reserved, balance.qc_hold]
        after = [sums["on_hand"], sums["reserved"], sums["qc_hold"]]
        if before == after or min(after) < 0 or after[0] - after[1] - after[2] < 0:
            return
        StockBalance.objects.filter(pk=balance.pk).update(
            on_hand=after[0], reserved=after[1], qc_hold=after[2]
        )
        StockMovement.objects.create(
            balance=balance,
            sku_id=balance.sku_id,
            kind=MovementKind.RECONCILE,
            actor=actor,
            note="balance reset to the ledger's sums",
            payload={"before": before, "after": after},
        )
