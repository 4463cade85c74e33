"""Demo data for purchasing (manage.py seed_demo): three suppliers with their items (bulk), and
purchase orders in different states built through the real services — a draft, one waiting for
approval, one sent to the supplier, one partially received at the dock."""

import zlib
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction

from core.errors import DomainError
from inventory.models import SKU, ReplenishmentSuggestion, Warehouse
from purchasing import receiving, services
from purchasing.models import Supplier, SupplierItem
from purchasing.services import LineInput

SUPPLIERS = [
    # code, name, contact, lead time (days)
    ("hz-textile", "杭州丝绸纺织有限公司", "陈经理", 7),
    ("sz-electronics", "深圳华强电子 / Huaqiang Electronics", "Li Wei", 10),
    ("nb-packaging", "宁波包装材料厂", "王女士", 4),
]


def _price(code: str) -> Decimal:
    """A stable, plausible unit cost per SKU (the demo has no cost prices)."""
    return Decimal(20 + zlib.crc32(code.encode()) % 180) + Decimal("0.50")


def seed_purchasing_demo(*, buyer: str = "buyer", approver: str = "manager", receiver: str = "warehouse"):
    """Once: a second run leaves purchasing as it is."""
    if Supplier.objects.exists():
        return
    users = {
        user.username: user
        for user in get_user_model().objects.filter(username__in=[buyer, approver, receiver])
    }
    skus = list(SKU.objects.filter(is_active=True, is_bundle=False, lot_tracked=False).order_by("code")[:60])
    warehouse = Warehouse.objects.filter(is_active=True).order_by("pk").first()
    if len(skus) < 6 or warehouse is None or len(users) < 3:
        return
    with transaction.atomic():
        suppliers = Supplier.objects.bulk_create(
            Supplier(code=code, name=name, contact_name=contact, currency="CNY", default_lead_time_days=days)
            for code, name, contact, days in SUPPLIERS
        )
        items = []
        for index, sku in enumerate(skus):
            main = suppliers[index % len(suppliers)]
            items.append(_item(main, sku, preferred=True, index=index))
            if index % 4 == 0:  # a second source, a little cheaper and slower
                other = suppliers[(index + 1) % len(suppliers)]
                items.append(_item(other, sku, preferred=False, index=index, discount=Decimal("0.95")))
        SupplierItem.objects.bulk_create(items)
    _orders(users[buyer], users[approver], users[receiver], suppliers, warehouse)


def _item(supplier, sku, *, preferred: bool, index: int, discount: Decimal = Decimal("1")) -> SupplierItem:
    return SupplierItem(
        supplier=supplier,
        sku=sku,
        supplier_code=f"{supplier.code[:2].upper()}-{sku.code}",
        unit_price=(_price(sku.code) * discount).quantize(Decimal("0.01")),
        currency="CNY",
        lead_time_days=None if preferred else supplier.default_lead_time_days + 5,
        minimum_quantity=[1, 10, 24, 50][index % 4],
        pack_size=[1, 6, 12, 1][index % 4],
        is_preferred=preferred,
    )


def _orders(buyer, approver, receiver, suppliers, warehouse) -> None:
    def lines_of(supplier, count):
        codes = (
            supplier.items.filter(is_preferred=True).order_by("sku__code").values_list("sku__code", flat=True)
        )
        return [LineInput(code, 20 + 7 * i) for i, code in enumerate(codes[:count])]

    try:
        # from last night's suggestions, where there are any: drafts, one per supplier
        suggestion_ids = list(
            ReplenishmentSuggestion.objects.order_by("days_of_cover").values_list("pk", flat=True)[:8]
        )
        if suggestion_ids:
            services.purchase_orders_from_suggestions(
                suggestion_ids=suggestion_ids, warehouse=warehouse, actor=buyer
            )
        # waiting for approval (a big order: the buyer cannot approve it alone)
        big = services.purchase_order_create(
            supplier=suppliers[1],
            warehouse=warehouse,
            lines=[LineInput(line.sku, line.quantity * 20) for line in lines_of(suppliers[1], 3)],
            actor=buyer,
        )
        services.purchase_order_submit(po=big, actor=buyer)
        # sent to the supplier
        sent = services.purchase_order_create(
            supplier=suppliers[0], warehouse=warehouse, lines=lines_of(suppliers[0], 3), actor=buyer
        )
        sent = services.purchase_order_submit(po=sent, actor=buyer)
        if sent.state != "approved":
            services.purchase_order_approve(po=sent, actor=approver)
        # partially received at the dock
        part = services.purchase_order_create(
            supplier=suppliers[2], warehouse=warehouse, lines=lines_of(suppliers[2], 2), actor=buyer
        )
        part = services.purchase_order_submit(po=part, actor=buyer)
        if part.state != "approved":
            part = services.purchase_order_approve(po=part, actor=approver)
        receipt = receiving.receipt_start(po=part, actor=receiver)
        first = receipt.lines.order_by("purchase_order_line_id").first()
        receiving.receipt_set_counts(
            receipt=receipt,
            counts=[receiving.CountInput(line_id=first.pk, quantity=first.purchase_order_line.quantity)],
            actor=receiver,
        )
        receiving.receipt_post(receipt=receipt, actor=receiver)
    except DomainError:  # e.g. a lot-tracked SKU the demo cannot name a lot for: the rest stays
        return
