"""Suppliers, their portal logins and purchase orders sent to them, built through the buyer's
own services (create → submit → approve as the system) so the portal tests start from states
the product really reaches."""

from datetime import timedelta
from decimal import Decimal

from core.timezones import business_date
from orders.tests.factories import SKUFactory, WarehouseFactory
from purchasing import services
from purchasing.models import PurchaseOrder, Supplier, SupplierItem, SupplierUser

PASSWORD = "pw-for-tests-1"  # conftest's make_user


def make_supplier(code: str, name: str | None = None) -> Supplier:
    return Supplier.objects.create(code=code, name=name or f"Supplier {code}", currency="CNY")


def make_supplier_user(django_user_model, supplier: Supplier, username: str | None = None):
    user = django_user_model.objects.create_user(
        username=username or f"{supplier.code}-user", password=PASSWORD
    )
    SupplierUser.objects.create(user=user, supplier=supplier)
    return user


def sent_purchase_order(
    supplier: Supplier, lines: dict[str, int], *, days_ahead: int = 10, price: str = "12.50"
) -> PurchaseOrder:
    """A purchase order approved and sent to the supplier, one line per SKU code → quantity."""
    warehouse = WarehouseFactory()
    expected_on = business_date() + timedelta(days=days_ahead)
    inputs = []
    for code, quantity in lines.items():
        sku = SKUFactory(code=code)
        SupplierItem.objects.get_or_create(
            supplier=supplier, sku=sku, defaults={"unit_price": Decimal(price), "currency": supplier.currency}
        )
        inputs.append(services.LineInput(sku=code, quantity=quantity, expected_on=expected_on))
    po = services.purchase_order_create(supplier=supplier, warehouse=warehouse, lines=inputs, actor=None)
    services.purchase_order_submit(po=po, actor=None)
    services.purchase_order_approve(po=po, actor=None)
    po.refresh_from_db()
    return po


def draft_purchase_order(supplier: Supplier, lines: dict[str, int]) -> PurchaseOrder:
    warehouse = WarehouseFactory()
    inputs = []
    for code, quantity in lines.items():
        sku = SKUFactory(code=code)
        SupplierItem.objects.get_or_create(
            supplier=supplier,
            sku=sku,
            defaults={"unit_price": Decimal("1.00"), "currency": supplier.currency},
        )
        inputs.append(services.LineInput(sku=code, quantity=quantity))
    return services.purchase_order_create(supplier=supplier, warehouse=warehouse, lines=inputs, actor=None)
