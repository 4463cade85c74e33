"""Bin quantities: the warehouse floor's record of which bin holds a SKU (inventory.models.bins).
They never touch the ledger; the ledger's StockBalance stays the truth per warehouse."""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from core.errors import DomainError
from core.transitions import Actor, require_perm
from inventory.models import SKU, BinLocation, BinStock, Warehouse

BIN_PERMISSION = "inventory.change_binstock"


@dataclass(frozen=True)
class BinPlace:
    bin: BinLocation
    quantity: int  # units the floor recorded there


def sku_bins(*, warehouse: Warehouse, sku_ids: list[int]) -> dict[int, list[BinPlace]]:
    """Each SKU's active bins in the warehouse, in picking-path order."""
    places: dict[int, list[BinPlace]] = {sku_id: [] for sku_id in sku_ids}
    rows = (
        BinStock.objects.filter(bin__warehouse=warehouse, bin__is_active=True, sku_id__in=sku_ids)
        .select_related("bin")
        .order_by("bin__pick_sequence", "bin__code", "pk")
    )
    for row in rows:
        places[row.sku_id].append(BinPlace(bin=row.bin, quantity=row.quantity))
    return places


def bin_put_away(*, bin: BinLocation, sku: SKU, quantity: int, actor: Actor) -> BinStock:
    """Units shelved in a bin (after receiving, or moved from another bin)."""
    require_perm(actor, BIN_PERMISSION)
    if quantity < 1:
        raise DomainError(_("Put away at least one unit."), field="quantity")
    if not bin.is_active:
        raise DomainError(_("Bin %(bin)s is not in use.") % {"bin": bin.code}, field="bin")
    with transaction.atomic():
        row, _created = BinStock.objects.get_or_create(bin=bin, sku=sku)
        BinStock.objects.filter(pk=row.pk).update(quantity=F("quantity") + quantity)
    row.refresh_from_db()
    return row


def bin_take(*, bin: BinLocation, sku: SKU, quantity: int = 1) -> bool:
    """Units picked from the bin. False when the record shows fewer than that: the units are in
    the picker's hand all the same, so the pick counts and the bin wants counting."""
    return bool(
        BinStock.objects.filter(bin=bin, sku=sku, quantity__gte=quantity).update(
            quantity=F("quantity") - quantity
        )
    )
