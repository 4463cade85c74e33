"""Routing (R-F1, R-F2): which warehouse ships which units of an order, and the shipments that
carry them.

    planner.py   the plan, as pure functions (rank, choose one warehouse or split, pre-sale)
    facts.py     what the plan is made from (policy, needs, candidate warehouses, address key)
    service.py   route_order: lock, plan, write; cancelling shipments and holding for stock
    explain.py   why: the facts on the shipment and the sentence on the timeline
    reroute.py   routing again after a warehouse refused a parcel, or on request
    schedule.py  after commit, the beat safety nets, the end of merge windows
    batch.py     route_orders: a bulk intake's paid orders, a chunk per transaction
"""

from fulfilment.routing.batch import route_orders
from fulfilment.routing.facts import unrouted_needs
from fulfilment.routing.planner import (
    MERGE_UNTIL,
    ROUTABLE,
    Candidate,
    Need,
    Plan,
    coverage,
    deciding_strategy,
    plan,
    plan_presale,
    rank,
    ships_whole,
)
from fulfilment.routing.reroute import reroute_order, reroute_rejected
from fulfilment.routing.schedule import (
    paid_orders_waiting,
    presale_waiting,
    route_quietly,
    shipments_release_merge_window,
)
from fulfilment.routing.service import route_on_commit, route_order, shipments_cancel

__all__ = [
    "MERGE_UNTIL",
    "ROUTABLE",
    "Candidate",
    "Need",
    "Plan",
    "coverage",
    "deciding_strategy",
    "paid_orders_waiting",
    "plan",
    "plan_presale",
    "presale_waiting",
    "rank",
    "reroute_order",
    "reroute_rejected",
    "route_on_commit",
    "route_order",
    "route_orders",
    "route_quietly",
    "shipments_cancel",
    "shipments_release_merge_window",
    "ships_whole",
    "unrouted_needs",
]
