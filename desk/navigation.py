"""The desk's navigation, by area, each link shown only to users with its permission."""

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

from core.roles import user_roles


@dataclass(frozen=True)
class Link:
    label: str
    url_name: str
    perm: str | None = None  # None: any user with a role
    query: str = ""
    staff_only: bool = False


NAV = [
    (
        _("Overview"),
        [
            Link(_("Dashboard"), "dashboard:home", "orders.view_dashboard"),
            Link(_("Alerts"), "alerts:list"),
            Link(_("Operations"), "ops:overview", "ops.view_operations"),
            Link(_("SLA"), "fulfilment:sla"),
        ],
    ),
    (
        _("Orders"),
        [
            Link(_("Orders"), "orders:list", "orders.view_order"),
            Link(_("Held orders"), "orders:list", "orders.hold_order", query="status=on_hold"),
            Link(_("Unmapped items"), "inventory:unmapped", "inventory.view_itemmapping"),
            Link(_("Upload orders"), "integrations_desk:upload", "orders.add_order"),
            Link(_("Returns"), "returns:list", "returns.view_returnrequest"),
            Link(_("Receive returns"), "returns:receiving", "returns.receive_returnrequest"),
        ],
    ),
    (
        _("B2B"),
        [
            Link(_("Contracts"), "b2b:contracts", "b2b.view_contract"),
            Link(_("Accounts"), "b2b:accounts", "b2b.view_b2baccount"),
        ],
    ),
    (
        _("Fulfilment"),
        [
            Link(_("Shipments"), "fulfilment:shipments", "orders.view_shipment"),
            Link(_("Waves"), "fulfilment:waves", "orders.view_shipment"),
            Link(_("No first scan"), "fulfilment:no-first-scan", "orders.view_shipment"),
            Link(_("Carriers"), "fulfilment:carrier-stats", "orders.view_shipment"),
            Link(_("Receive purchases"), "purchasing:receiving", "purchasing.receive_purchaseorder"),
        ],
    ),
    (
        _("Purchasing"),
        [
            Link(_("Purchase orders"), "purchasing:orders", "purchasing.view_purchaseorder"),
            Link(_("Suppliers"), "purchasing:suppliers", "purchasing.view_supplier"),
        ],
    ),
    (
        _("Stock"),
        [
            Link(_("Stock"), "inventory:stock", "inventory.view_stockbalance"),
            Link(_("Pools"), "inventory:pools", "inventory.view_stockpool"),
            Link(_("Transfers"), "inventory:transfer-list", "inventory.view_stocktransfer"),
            Link(_("Replenishment"), "inventory:replenishment", "inventory.view_replenishmentsuggestion"),
            Link(_("Breakers"), "inventory:breakers", "inventory.view_releasebreaker"),
            Link(_("Counts"), "inventory:cyclecount-list", "inventory.view_cyclecount"),
        ],
    ),
    (
        _("Finance"),
        [
            Link(_("Payments"), "finance:payments", "finance.view_payment"),
            Link(_("Reconciliation"), "finance:reconciliation", "finance.view_reconciliationrun"),
            Link(_("Periods"), "finance:periods", "finance.view_accountingperiod"),
        ],
    ),
    (
        _("Integrations"),
        [
            Link(_("Integration log"), "integrations_desk:messages", "integrations.view_inboundmessage"),
            Link(_("Failed queue"), "integrations_desk:failed", "integrations.view_inboundmessage"),
        ],
    ),
    (
        _("Set-up"),
        [
            Link(_("Master data"), "admin:index", staff_only=True),
            Link(_("API"), "api-docs", "orders.add_order"),
        ],
    ),
]


def _allowed(link: Link, user, roles) -> bool:
    if link.staff_only:
        return user.is_staff
    if link.perm is None:
        return bool(roles) or user.has_perm("core.view_alert")
    return user.has_perm(link.perm)


def desk_navigation(user) -> list[dict]:
    """The groups and links this user may use, in order; empty groups are left out."""
    if not user.is_authenticated:
        return []
    roles = user_roles(user)
    groups = []
    for title, links in NAV:
        entries = []
        for link in links:
            if not _allowed(link, user, roles):
                continue
            try:
                url = reverse(link.url_name)
            except NoReverseMatch:  # a screen whose app is not installed
                continue
            entries.append({"label": link.label, "url": f"{url}?{link.query}" if link.query else url})
        if entries:
            groups.append({"title": title, "links": entries})
    return groups
