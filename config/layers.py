"""Conduit's layers, bottom to top. A module may import its own layer and those below it, never
one above: core/tests/test_layers.py parses every import (inside functions too) and fails otherwise.
docs/architecture.md draws the same list.

Each app's domain code sits in its layer. Its *edges* — the HTTP API, desk screens, admin,
URLs, template tags, filters, forms and management commands — sit in the `screens` layer near the
top, because a screen may show what several apps know (an order page shows its parcels, returns
and payments). Migrations are frozen history and tests may reach anything: neither is checked.
"""

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("core", ("core",)),  # users, roles, money, time, errors, alerts, outbox, the transition helper
    ("catalog", ("catalog",)),  # sales channels
    ("inventory", ("inventory",)),  # warehouses, SKUs, the stock ledger, reservations
    ("purchasing", ("purchasing",)),  # suppliers, purchase orders, shipment notices, receiving
    ("orders", ("orders",)),  # the order domain: orders, intake, order stock, review
    ("fulfilment", ("fulfilment",)),  # shipments, routing, packing, tracking, SLA, notifications
    ("b2b", ("b2b",)),  # business accounts, contracts with approval, scheduled deliveries
    ("integrations", ("integrations",)),  # platforms, WMS, carriers: adapters over the domain
    ("finance", ("finance",)),  # payments, revenue, periods, imports, reconciliation, vouchers
    ("returns", ("returns",)),  # RMAs, refunds, exchanges
    ("screens", ("dashboard", "desk", "ops")),  # and every app's edge modules (see EDGE_PARTS)
    ("config", ("config",)),  # settings, URLs, Celery, beat schedule, the registry that wires apps
]

# A module whose dotted path has one of these parts is an edge of its app (the screens layer).
EDGE_PARTS = frozenset(
    {"api", "desk", "views", "urls", "admin", "management", "templatetags", "filters", "forms"}
)
# fulfilment.warehouse_views, returns.self_service_urls, fulfilment.wave_admin, inventory.bin_admin
EDGE_SUFFIXES = ("_views", "_urls", "_admin")


def layer_of(module: str) -> int | None:
    """The layer index of a Conduit module, or None for anything outside Conduit."""
    parts = module.split(".")
    top = parts[0]
    index = next((i for i, (_name, roots) in enumerate(LAYERS) if top in roots), None)
    if index is None:
        return None
    if LAYERS[index][0] != "config" and any(p in EDGE_PARTS or p.endswith(EDGE_SUFFIXES) for p in parts[1:]):
        return screens_index()
    return index


def screens_index() -> int:
    return next(i for i, (name, _roots) in enumerate(LAYERS) if name == "screens")
