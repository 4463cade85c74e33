"""What a platform client is given to tell its platform that a parcel shipped (发货回传, issue #15),
and what it answers. The outbox handler (integrations.writeback) builds a `ShipmentNotice` from a
shipment and calls `client.write_back_shipment(notice)` on the channel's platform client.

A client raises core.http's PlatformError / RateLimited for failed calls (the outbox retries or
dead-letters by the one HTTP rule) and returns the platform's reference for the fulfilment it
made. It must be idempotent: the same notice delivered twice (at-least-once outbox) must not
make two fulfilments — check the platform's state first or use its idempotency key, and treat
the platform's "already shipped" answer for exactly these lines as success."""

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class NoticeLine:
    """One sold line of the order and how many of its units this parcel carries (a bundle's
    components are reported as units of the bundle line the platform sold)."""

    platform_line_id: str  # Shopify line item id, WooCommerce line item id, Taobao oid, Amazon OrderItemId
    platform_item_id: str
    platform_sku_id: str
    seller_code: str
    quantity: int  # units of this line in this parcel
    line_quantity: int  # units of the line as sold (a parcel with fewer is a partial shipment)


@dataclass(frozen=True)
class ShipmentNotice:
    order_external_id: str  # the platform's order id
    shipment_number: str  # ours: the idempotency key on our side
    parcel_index: int  # 1 for the order's first parcel ever made, 2 for the second… (never reused)
    parcel_count: int  # parcels of the order known so far (a split order has more than one)
    carrier_code: str  # the platform's code for the carrier (from the carrier code map)
    carrier_name: str  # the carrier's name, for platforms that take free text
    tracking_number: str
    tracking_url: str = ""
    lines: list[NoticeLine] = field(default_factory=list)
    all_lines_shipped: bool = False  # with this parcel, every live line of the order has shipped
    notify_customer: bool = True
    shipped_at: datetime | None = None  # when the parcel left the warehouse (aware, UTC)

    def units_by_platform_line(self) -> dict[str, tuple[int, int]]:
        """{platform line id: (units this parcel carries, units the line sold)}, in the order of
        the notice, for the lines the platform sold under an id (others are left out). A line named
        by several notice lines (a bundle's components) adds up; the parcel carries the whole line
        when carried >= sold."""
        units: dict[str, tuple[int, int]] = {}
        for line in self.lines:
            line_id = str(line.platform_line_id or "").strip()
            if line_id:
                carried, sold = units.get(line_id, (0, 0))
                units[line_id] = (carried + line.quantity, max(sold, line.line_quantity))
        return units


@dataclass(frozen=True)
class WriteBackResult:
    reference: str  # the platform's id of the fulfilment/shipment record, or "" when it gives none
    already_done: bool = False  # the platform already had these lines shipped with this tracking
