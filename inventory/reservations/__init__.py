"""Reservations (R-I2, R-I3, R-I6, R-I7): stock held for order lines, from the order's creation
until it ships, is cancelled, or expires unpaid. Callers use the services exported here
(`from inventory import reservations`, `reservations.reservations_commit(...)`).

    reserve.py   reserving new orders and checkout locks (channel pools, first-expiring lot first)
    commit.py    payment commits, shipping consumes; what an order still holds
    move.py      routing: moving held units to the warehouses that ship them
    release.py   releasing (by lock fingerprint), and resuming a paused breaker
    expiry.py    unpaid reservations past their deadline
    breaker.py   the release breaker: how many releases a SKU may still have, tripping it

Lock order, the same everywhere so nothing deadlocks: order row → its reservation rows →
balance rows by ascending id. Paths that start from balances (reserving, the expiry sweep) take
reservation rows with SKIP LOCKED and never wait for them.
"""

from inventory.reservations.breaker import release_allowance
from inventory.reservations.commit import held_quantities, reservations_commit, reservations_consume
from inventory.reservations.expiry import expire_due, reservations_expire_sweep
from inventory.reservations.move import (
    Placement,
    RoutableStock,
    RouteMove,
    RouteOutcome,
    Routing,
    reservations_follow_split,
    reservations_route,
    reservations_unlink_shipment,
    routable_stock,
    routable_stocks,
    route_plan,
    route_write,
)
from inventory.reservations.release import (
    ReleaseOutcome,
    breaker_resume,
    order_fingerprints,
    release_planned,
    reservations_release,
)
from inventory.reservations.reserve import (
    HeldLock,
    LineDemand,
    OrderDemand,
    ReserveResult,
    channel_pool_ids,
    reserve_locks_at_once,
    reserve_orders,
)

__all__ = [
    "HeldLock",
    "LineDemand",
    "OrderDemand",
    "Placement",
    "ReleaseOutcome",
    "ReserveResult",
    "RoutableStock",
    "RouteMove",
    "RouteOutcome",
    "Routing",
    "breaker_resume",
    "channel_pool_ids",
    "expire_due",
    "held_quantities",
    "order_fingerprints",
    "release_allowance",
    "release_planned",
    "reservations_commit",
    "reservations_consume",
    "reservations_expire_sweep",
    "reservations_follow_split",
    "reservations_release",
    "reservations_route",
    "reservations_unlink_shipment",
    "reserve_locks_at_once",
    "reserve_orders",
    "routable_stock",
    "routable_stocks",
    "route_plan",
    "route_write",
]
