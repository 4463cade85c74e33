"""Cycle count services (R-I9): a warehouse uploads what it counted, a manager reviews the
differences against what the system held at upload time, and approval posts them to the ledger as
`count` movements. An approval the ledger refuses (a count below what is reserved) posts nothing.
Approving and cancelling run through core.transitions.

Lock order: the cycle count row, then the balance rows in ascending id inside ledger.post.
"""

from pathlib import Path

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.transitions import check_transition, lock_one, require_perm, transition
from inventory import ledger
from inventory.cycle_counts.sheet import cycle_count_validate, read_dataset
from inventory.models import CycleCount, CycleCountLine, MovementKind, StockBalance, Warehouse


def cycle_count_upload(
    *,
    warehouse: Warehouse,
    file_bytes: bytes,
    file_name: str,
    actor,
    reference: str = "",
    note: str = "",
) -> CycleCount:
    """Store a validated count sheet as a draft with a snapshot of what the system held, so the
    reviewer sees the differences and approval posts exactly those (stock moving meanwhile is
    kept, not overwritten)."""
    require_perm(actor, "inventory.add_cyclecount", _("You are not allowed to upload cycle counts."))
    dataset = read_dataset(file_bytes=file_bytes, file_name=file_name)
    counted = cycle_count_validate(dataset=dataset)
    with transaction.atomic():
        on_hand = {
            (sku_id, pool_id, lot_id): (pk, quantity)
            for pk, sku_id, pool_id, lot_id, quantity in StockBalance.objects.filter(
                warehouse=warehouse, sku_id__in={row.sku.pk for row in counted}
            ).values_list("pk", "sku_id", "pool_id", "lot_id", "on_hand")
        }
        cycle_count = CycleCount.objects.create(
            warehouse=warehouse,
            reference=reference,
            note=note,
            source_file_name=Path(file_name).name[:255],
            created_by=actor,
        )
        lines = []
        for row in counted:
            balance_id, system_quantity = on_hand.get(
                (row.sku.pk, row.pool.pk, row.lot.pk if row.lot else None), (None, 0)
            )
            lines.append(
                CycleCountLine(
                    cycle_count=cycle_count,
                    row_number=row.row_number,
                    sku=row.sku,
                    lot=row.lot,
                    pool=row.pool,
                    balance_id=balance_id,
                    counted_quantity=row.counted_quantity,
                    system_quantity=system_quantity,
                )
            )
        CycleCountLine.objects.bulk_create(lines, batch_size=1000)
    return cycle_count


def _lock(cycle_count: CycleCount | int) -> CycleCount:
    pk = cycle_count.pk if isinstance(cycle_count, CycleCount) else cycle_count
    return lock_one(CycleCount.objects.select_related("warehouse"), pk)


def _check(cycle_count: CycleCount, name: str, actor, *, forbidden: str) -> None:
    """core.transitions' permission and state check in this count's own (translated) words, before
    approval posts anything; transition() checks again under the same lock and then passes."""
    check_transition(
        cycle_count,
        name,
        actor,
        refused=_("Cycle count %(count)s is %(state)s: only a draft can be approved or cancelled.")
        % {"count": cycle_count, "state": cycle_count.get_state_display()},
        forbidden=forbidden,
    )


def _refusal(cycle_count: CycleCount, changes: list[ledger.Change], balance_ids: list[int]) -> str:
    """Name each position the ledger refused, with what the count would leave against what is
    reserved or held, so the counter knows which shelf to look at again."""
    deltas = {change.balance_id: change.on_hand for change in changes}
    problems = []
    for balance in (
        StockBalance.objects.filter(pk__in=balance_ids).select_related("sku", "lot").order_by("pk")
    ):
        problems.append(
            _("%(sku)s%(lot)s: the count would leave %(after)s on hand but %(held)s are reserved or held")
            % {
                "sku": balance.sku.code,
                "lot": f" ({balance.lot.code})" if balance.lot else "",
                "after": balance.on_hand + deltas.get(balance.pk, 0),
                "held": balance.reserved + balance.qc_hold,
            }
        )
    return _("Cycle count %(count)s cannot be approved; nothing was posted. %(problems)s.") % {
        "count": cycle_count,
        "problems": "; ".join(problems),
    }


def _post_differences(cycle_count: CycleCount, actor) -> None:
    """Post every difference as one `count` movement, all in one ledger call: either the whole
    count lands or, if any position would fall below what is reserved, none of it does."""
    changes, relinked = [], []
    for line in cycle_count.lines.order_by("row_number"):
        if not line.difference:
            continue
        balance = ledger.balance_for(
            sku_id=line.sku_id,
            warehouse_id=cycle_count.warehouse_id,
            pool_id=line.pool_id,
            lot_id=line.lot_id,
        )
        if line.balance_id != balance.pk:
            line.balance = balance
            relinked.append(line)
        changes.append(
            ledger.Change(
                balance_id=balance.pk,
                sku_id=line.sku_id,
                kind=MovementKind.COUNT,
                on_hand=line.difference,
                reference=str(cycle_count)[:100],
                payload={
                    "cycle_count": cycle_count.pk,
                    "row": line.row_number,
                    "system": line.system_quantity,
                    "counted": line.counted_quantity,
                },
                idempotency_key=f"cycle-count:{cycle_count.pk}:{line.pk}",
            )
        )
    try:
        ledger.post(changes, actor=actor)
    except ledger.InsufficientStock as exc:
        raise ledger.InsufficientStock(
            _refusal(cycle_count, changes, exc.balance_ids), balance_ids=exc.balance_ids
        ) from exc
    CycleCountLine.objects.bulk_update(relinked, ["balance"])


def cycle_count_approve(*, cycle_count: CycleCount | int, actor) -> CycleCount:
    """Post the count's differences (all or none), then mark it approved."""
    with transaction.atomic():
        cycle_count = _lock(cycle_count)
        _check(cycle_count, "approve", actor, forbidden=_("You are not allowed to approve cycle counts."))
        _post_differences(cycle_count, actor)
        transition(cycle_count, "approve", actor, args={"by": actor, "at": timezone.now()})
    return cycle_count


def cycle_count_cancel(*, cycle_count: CycleCount | int, actor) -> CycleCount:
    """Withdraw a draft (a wrong file, a recount planned); nothing was ever posted for it."""
    with transaction.atomic():
        cycle_count = _lock(cycle_count)
        _check(cycle_count, "cancel", actor, forbidden=_("You are not allowed to cancel this cycle count."))
        transition(cycle_count, "cancel", actor, args={"by": actor, "at": timezone.now()})
    return cycle_count
