"""Roles are auth groups whose permissions are defined here (SPEC §1), kept in step on migrate."""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    CUSTOMER_SERVICE = "customer_service", _("Customer service")
    WAREHOUSE = "warehouse", _("Warehouse")
    FINANCE = "finance", _("Finance")
    MANAGER = "manager", _("Manager")
    BUYER = "buyer", _("Buyer")  # 采购
    ADMIN = "admin", _("Administrator")


MASTER_DATA_VIEW = [
    "integrations.view_channel",
    "inventory.view_warehouse",
    "inventory.view_sku",
    "inventory.view_bundlecomponent",  # what a bundle (组合装) is made of
    "orders.view_customer",
]

STOCK_VIEW = [
    "inventory.view_stockbalance",
    "inventory.view_stockmovement",
    "inventory.view_reservation",
    "inventory.view_stockpool",
    "inventory.view_lot",
]

# B2B sales (customer service): accounts, quotations, submitting them, changing the schedule.
B2B_SALES = [
    "b2b.view_b2baccount",
    "b2b.view_pricelist",
    "b2b.view_pricelistitem",
    "b2b.view_approvalrule",
    "b2b.view_contract",
    "b2b.add_contract",
    "b2b.change_contract",
    "b2b.submit_contract",
    "b2b.cancel_contract",
    "b2b.change_schedule",
]

# Purchasing (the buyer): suppliers and their items, purchase orders, answers to proposals.
# Buyers also approve, but at or above PURCHASE_APPROVAL_THRESHOLD never their own orders.
PURCHASING = [
    "purchasing.view_supplier",
    "purchasing.add_supplier",
    "purchasing.change_supplier",
    "purchasing.view_supplieritem",
    "purchasing.add_supplieritem",
    "purchasing.change_supplieritem",
    "purchasing.delete_supplieritem",
    "purchasing.view_purchaseorder",
    "purchasing.add_purchaseorder",
    "purchasing.change_purchaseorder",
    "purchasing.approve_purchaseorder",
    "purchasing.view_shipmentnotice",
    "purchasing.view_goodsreceipt",
    "purchasing.view_purchaseevent",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    Role.CUSTOMER_SERVICE: [
        *MASTER_DATA_VIEW,
        *STOCK_VIEW,
        "orders.view_order",
        "orders.add_order",
        "orders.hold_order",
        "orders.cancel_order",
        "inventory.view_itemmapping",  # the unmapped items queue
        "inventory.add_itemmapping",  # map a platform item to a SKU (releases its waiting orders)
        "orders.change_order_address",
        "orders.change_order_priority",
        "orders.add_order_note",
        "orders.edit_order_lines",  # swap items, change quantities, add or remove gifts during review
        "orders.change_customer",
        "orders.view_reviewrule",  # to see which rule held an order
        "orders.view_giftrule",  # to see which rule added a gift
        "orders.view_shipment",
        "orders.change_shipment",  # merge and split parcels by hand (fulfilment.manual_grouping)
        "orders.view_trackingevent",
        "orders.view_notification",
        "orders.add_notification",  # resend a notification
        "integrations.view_inboundmessage",
        "returns.view_returnrequest",
        "returns.add_returnrequest",
        "returns.change_returnrequest",  # return tracking entry
        "returns.approve_returnrequest",
        "returns.view_returnrefund",
        "returns.view_returnpolicy",
        "returns.view_returnexclusion",
        *B2B_SALES,
    ],
    Role.WAREHOUSE: [
        "inventory.view_warehouse",
        "inventory.view_sku",
        *STOCK_VIEW,
        "inventory.add_stockmovement",
        "inventory.view_cyclecount",
        "inventory.add_cyclecount",
        "inventory.view_binlocation",  # bins and what the floor recorded in them (waves)
        "inventory.view_binstock",
        "inventory.change_binstock",  # put-away
        "inventory.view_stocktransfer",  # transfers between warehouses
        "inventory.add_stocktransfer",
        "inventory.ship_stocktransfer",  # ship and receive them
        "orders.view_order",
        "orders.fulfil_order",
        "orders.add_order_note",
        "orders.view_shipment",
        "orders.work_shipment",
        "orders.view_trackingevent",
        "orders.view_carrier",
        "integrations.view_wmsstocksnapshot",
        "returns.view_returnrequest",
        "returns.receive_returnrequest",
        "purchasing.view_purchaseorder",  # receiving against purchase orders
        "purchasing.view_shipmentnotice",
        "purchasing.view_goodsreceipt",
        "purchasing.receive_purchaseorder",
    ],
    Role.FINANCE: [
        *MASTER_DATA_VIEW,
        "orders.view_order",
        "orders.mark_order_paid",
        "orders.add_order_note",
        "finance.view_payment",
        "finance.add_payment",
        "finance.view_paymentcallback",
        "finance.change_paymentcallback",  # replay a failed callback
        "finance.view_revenueline",
        "finance.add_revenueline",  # record a refund
        "finance.view_invoicerequest",
        "finance.add_invoicerequest",  # request an order's e-invoice
        "finance.retry_invoicerequest",  # send a failed e-invoice or red-letter again
        "finance.view_accountingperiod",
        "finance.close_accountingperiod",
        "finance.view_importlayout",
        "finance.view_importbatch",
        "finance.add_importbatch",  # upload and confirm statement imports
        "finance.view_statementline",
        "finance.view_reconciliationrun",
        "finance.add_reconciliationrun",  # run a reconciliation
        "finance.view_reconciliationitem",
        "finance.change_reconciliationitem",  # resolve a difference
        "finance.view_memocandidate",
        "finance.change_memocandidate",  # confirm a bank memo match
        "finance.view_voucherlayout",
        "finance.view_voucherbatch",
        "finance.add_voucherbatch",  # prepare vouchers
        "finance.approve_voucherbatch",  # approve someone else's vouchers
        "finance.view_exchangerate",
        "finance.add_exchangerate",  # import exchange rates (the admin's import)
        "finance.change_exchangerate",  # an imported rate replaces the stored one of its day
        "returns.view_returnrequest",
        "returns.view_returnrefund",
        "returns.change_returnrefund",  # confirm a manual payout
        "returns.view_return_metrics",
        "b2b.view_b2baccount",
        "b2b.view_contract",
        "b2b.settle_contract",  # paid in full: off the account's credit line
    ],
}
ROLE_PERMISSIONS[Role.BUYER] = [
    *MASTER_DATA_VIEW,
    *STOCK_VIEW,
    "inventory.view_replenishmentsuggestion",
    *PURCHASING,
]
ROLE_PERMISSIONS[Role.MANAGER] = sorted(
    {
        *ROLE_PERMISSIONS[Role.CUSTOMER_SERVICE],
        *ROLE_PERMISSIONS[Role.WAREHOUSE],
        *ROLE_PERMISSIONS[Role.FINANCE],
        *ROLE_PERMISSIONS[Role.BUYER],  # approves purchase orders, accepts over-deliveries
        "orders.complete_order",
        "orders.change_order_price",  # a line's unit price, during review
        "orders.decrypt_receiver",  # the platform decrypts a protected receiver, audited
        "orders.view_receiverdecryption",
        "orders.route_order",
        "orders.view_dashboard",
        "orders.view_orderevent",
        "orders.view_routingpolicy",
        "orders.change_routingpolicy",
        "orders.view_slarule",
        "orders.add_slarule",
        "orders.change_slarule",
        "orders.view_shippingrate",
        "orders.change_shippingrate",
        "orders.add_reviewrule",
        "orders.change_reviewrule",
        "orders.delete_reviewrule",
        "orders.add_giftrule",
        "orders.change_giftrule",
        "orders.delete_giftrule",
        "core.view_user",
        "core.view_alert",
        "core.view_outboxmessage",
        "core.change_outboxmessage",
        "core.change_alert",
        "ops.view_operations",  # the desk's Operations page
        "inventory.change_itemmapping",  # re-point a mapping (admin form and import)
        "inventory.change_releasebreaker",
        "inventory.view_releasebreaker",
        "inventory.view_replenishmentsuggestion",
        "inventory.view_safetystock",
        "inventory.change_safetystock",
        "inventory.view_channelpool",
        "inventory.add_reservation",
        "inventory.approve_cyclecount",
        "inventory.close_stocktransfer",  # accept a transfer's shortage (written off)
        "integrations.view_inboundmessage",
        "integrations.change_inboundmessage",
        "integrations.view_shipmentwriteback",
        "integrations.retry_shipmentwriteback",  # send a failed shipment write-back again
        "integrations.view_carriercode",
        "integrations.add_carriercode",  # the carrier code map of the write-back
        "integrations.change_carriercode",
        "integrations.delete_carriercode",
        "integrations.view_channelrepull",
        "integrations.add_channelrepull",  # re-pull a window of a channel's orders
        "returns.close_returnrequest",
        "returns.add_returnpolicy",
        "returns.change_returnpolicy",
        "returns.add_returnexclusion",
        "returns.change_returnexclusion",
        "returns.delete_returnexclusion",
        "b2b.approve_contract",  # B2B contracts up to the senior thresholds, never one's own
        "b2b.add_b2baccount",
        "b2b.change_b2baccount",
        "b2b.add_pricelist",
        "b2b.change_pricelist",
        "b2b.add_pricelistitem",
        "b2b.change_pricelistitem",
        "b2b.delete_pricelistitem",
    }
)
ALL_PERMISSIONS = "__all__"
ROLE_PERMISSIONS[Role.ADMIN] = [ALL_PERMISSIONS]


def sync_roles(app_registry=global_apps) -> None:
    """Create every role group with exactly the permissions above (the code is the truth)."""
    Group = app_registry.get_model("auth", "Group")
    Permission = app_registry.get_model("auth", "Permission")
    # Permissions are normally created per app after its own migrate; make sure all exist now.
    for app_config in global_apps.get_app_configs():
        create_permissions(app_config, verbosity=0, apps=app_registry)

    for role, codes in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=role)
        if codes == [ALL_PERMISSIONS]:
            group.permissions.set(Permission.objects.all())
            continue
        wanted = [tuple(code.split(".", 1)) for code in codes]
        found = Permission.objects.filter(
            content_type__app_label__in={app for app, _ in wanted},
            codename__in={codename for _, codename in wanted},
        ).select_related("content_type")
        by_code = {(p.content_type.app_label, p.codename): p for p in found}
        missing = sorted(".".join(code) for code in wanted if code not in by_code)
        if missing:
            raise LookupError(f"role {role}: unknown permissions {missing}")
        group.permissions.set(by_code[code] for code in wanted)


def sync_roles_after_migrate(sender, apps=global_apps, **kwargs) -> None:
    sync_roles(apps)


def user_roles(user) -> set[str]:
    if not user.is_authenticated:
        return set()
    if user.is_superuser:
        return set(Role.values)
    cached = getattr(user, "_conduit_roles", None)
    if cached is None:
        cached = set(user.groups.filter(name__in=Role.values).values_list("name", flat=True))
        user._conduit_roles = cached
    return cached
