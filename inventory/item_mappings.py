"""Reads of item mappings: which SKU an order line names (the inbound side), with every lookup of
a batch of lines done in two queries, whatever the number of lines or orders.

A line names its item by our SKU code, or by the platform's ids and the seller's code. The order
of resolution (ItemResolver.resolve):
  1. our SKU code, when it is one (active);
  2. the channel's mapping of the platform SKU (variant) id;
  3. the channel's mapping of the platform item id for an item without variants (empty SKU id);
  4. the channel's mapping of the seller's code (a `sku` that is not ours counts as one);
  5. the seller's code equal to one of our SKU codes, else to one of our SKU barcodes.
Mappings to inactive SKUs are ignored: the line stays unmapped and waits for a new mapping."""

from collections import defaultdict
from collections.abc import Iterable
from functools import cache
from typing import NamedTuple

from django.db.models import Q

from catalog.models import Channel
from core.prepared import prepared_cursor
from core.raw_models import Columns, any_of
from inventory.models import SKU, ItemMapping


class ItemName(NamedTuple):
    """How one line names its item on a channel (blank strings for what it does not give). A
    named tuple: a bulk request makes several per line, and a frozen dataclass costs ~4× more."""

    channel_id: int
    code: str = ""  # the line's `sku`: our code, or else the seller's
    platform_item_id: str = ""
    platform_sku_id: str = ""
    seller_code: str = ""

    @property
    def seller(self) -> str:
        return self.seller_code or self.code


def active_skus_by_code_or_barcode(codes) -> list[SKU]:
    """The active SKUs whose code or barcode is among `codes`, read by one prepared, written-out
    statement: every intake batch asks, and compiling the queryset cost more CPU than the database
    spent answering it (issue #18)."""
    columns = _sku_columns()
    condition, params = any_of(codes)
    with prepared_cursor() as cursor:
        cursor.execute(
            f"SELECT {columns.sql} FROM {SKU._meta.db_table} s "
            f"WHERE (s.code {condition} OR s.barcode {condition}) AND s.is_active",
            params * 2,
        )
        return [columns.read(row, 0) for row in cursor.fetchall()]


def active_channels(codes) -> list[Channel]:
    """The active channels of these codes, read the same way (a batch's channels, at once)."""
    if not codes:
        return []
    columns = _channel_columns()
    condition, params = any_of(codes)
    with prepared_cursor() as cursor:
        cursor.execute(
            f"SELECT {columns.sql} FROM {Channel._meta.db_table} c WHERE c.code {condition} AND c.is_active",
            params,
        )
        return [columns.read(row, 0) for row in cursor.fetchall()]


@cache
def _sku_columns() -> Columns:
    return Columns(SKU, "s")


@cache
def _channel_columns() -> Columns:
    return Columns(Channel, "c")


class ItemResolver:
    """Resolves many lines at once. `load` fetches whatever its lines may need that was not
    fetched before: one query for SKUs by code or barcode, one for the channels' mappings."""

    def __init__(self) -> None:
        self._channels: dict[str, Channel | None] = {}
        self._codes: set[str] = set()  # codes (and seller codes) already looked up
        self._by_code: dict[str, SKU] = {}
        self._by_barcode: dict[str, SKU] = {}
        self._keys: set[tuple] = set()  # mapping keys already looked up
        self._by_sku_id: dict[tuple[int, str], list[ItemMapping]] = defaultdict(list)
        self._by_item: dict[tuple[int, str], ItemMapping] = {}
        self._by_seller: dict[tuple[int, str], ItemMapping] = {}

    def channel(self, code: str) -> Channel | None:
        """The active channel of that code (looked up once per resolver)."""
        if code not in self._channels:
            self.load_channels({code})
        return self._channels[code]

    def load_channels(self, codes: set[str]) -> None:
        """Look up the channels of these codes at once (a batch's), those not looked up before."""
        wanted = codes - self._channels.keys()
        if wanted:
            found = {channel.code: channel for channel in active_channels(wanted)}
            self._channels.update((code, found.get(code)) for code in wanted)

    def load(self, names: Iterable[ItemName]) -> None:
        names = list(names)
        codes = {text for name in names for text in (name.code, name.seller_code) if text} - self._codes
        if codes:
            for sku in active_skus_by_code_or_barcode(codes):
                self._by_code[sku.code] = sku
                if sku.barcode:
                    self._by_barcode[sku.barcode] = sku
            self._codes |= codes
        self._load_mappings([name for name in names if not self._known_code(name)])

    def _load_mappings(self, names: list[ItemName]) -> None:
        wanted: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for name in names:
            for kind, value in (
                ("sku_id", name.platform_sku_id),
                ("item", name.platform_item_id),
                ("seller", name.seller),
            ):
                if value and (kind, name.channel_id, value) not in self._keys:
                    wanted[name.channel_id][kind].add(value)
        if not wanted:
            return
        condition = Q()
        for channel_id, kinds in wanted.items():
            condition |= Q(channel_id=channel_id) & (
                Q(platform_sku_id__in=kinds["sku_id"])
                | Q(platform_item_id__in=kinds["item"], platform_sku_id="")
                | Q(seller_code__in=kinds["seller"])
            )
            for kind, values in kinds.items():
                self._keys |= {(kind, channel_id, value) for value in values}
        mappings = (
            ItemMapping.objects.filter(condition, sku__is_active=True).select_related("sku").order_by("pk")
        )
        for mapping in mappings:
            channel_id = mapping.channel_id
            if mapping.platform_sku_id:
                known = self._by_sku_id[(channel_id, mapping.platform_sku_id)]
                if mapping not in known:
                    known.append(mapping)
            elif mapping.platform_item_id:
                self._by_item[(channel_id, mapping.platform_item_id)] = mapping
            if mapping.seller_code:
                self._by_seller[(channel_id, mapping.seller_code)] = mapping

    def _known_code(self, name: ItemName) -> bool:
        return bool(name.code) and name.code in self._by_code

    def resolve(self, name: ItemName) -> SKU | None:
        """The SKU the line names, or None while its item is not mapped (see the module's order)."""
        known = self._by_code.get(name.code) if name.code else None
        if known is not None:  # our code comes first, whatever else the line names
            return known
        self.load([name])  # nothing to fetch when a batch was loaded first
        if self._known_code(name):
            return self._by_code[name.code]
        channel_id = name.channel_id
        if name.platform_sku_id:
            candidates = self._by_sku_id.get((channel_id, name.platform_sku_id), [])
            # A variant id is unique on the platforms we know; the item id breaks a tie if not.
            exact = [m for m in candidates if m.platform_item_id == name.platform_item_id]
            if exact or candidates:
                return (exact or candidates)[0].sku
        if name.platform_item_id and (channel_id, name.platform_item_id) in self._by_item:
            return self._by_item[(channel_id, name.platform_item_id)].sku
        seller = name.seller
        if seller and (channel_id, seller) in self._by_seller:
            return self._by_seller[(channel_id, seller)].sku
        if seller:
            return self._by_code.get(seller) or self._by_barcode.get(seller)
        return None


def sku_candidates(term: str, *, limit: int = 20) -> list[SKU]:
    """Active SKUs an agent may mean by `term`: the one whose code or barcode it is, else those
    whose code or name contains it (by code)."""
    term = term.strip()
    if not term:
        return []
    active = SKU.objects.filter(is_active=True)
    exact = list(active.filter(Q(code__iexact=term) | Q(barcode=term))[:2])
    if exact:
        return exact
    return list(active.filter(Q(code__icontains=term) | Q(name__icontains=term)).order_by("code")[:limit])
