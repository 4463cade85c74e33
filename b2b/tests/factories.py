"""B2B rows for the tests, built through the real services."""

from datetime import date, timedelta
from decimal import Decimal

from b2b import contracts
from b2b.accounts import account_save
from b2b.contracts import DeliveryInput, LineInput
from b2b.models import ApprovalRule, B2BAccount, PriceList, PriceListItem
from catalog.models import Channel, Platform
from orders.tests.factories import SKUFactory, WarehouseFactory, receive

TODAY = date(2026, 3, 2)


def b2b_channel() -> Channel:
    channel, _created = Channel.objects.get_or_create(
        code="b2b-cn",
        defaults={"platform": Platform.GENERIC, "name": "B2B", "currency": "CNY", "notify_customers": False},
    )
    return channel


def price_list(**prices) -> PriceList:
    plist = PriceList.objects.create(name="Wholesale", currency="CNY")
    for code, price in prices.items():
        PriceListItem.objects.create(price_list=plist, sku=SKUFactory(code=code), unit_price=Decimal(price))
    return plist


def account(code="acme", credit_limit="100000.00", plist=None, phone="13900000001") -> B2BAccount:
    return account_save(
        B2BAccount(
            code=code,
            name=f"{code.title()} Trading",
            channel=b2b_channel(),
            currency="CNY",
            credit_limit=Decimal(credit_limit),
            price_list=plist,
            contact_name="李雷",
            contact_phone=phone,
            ship_country="CN",
            ship_province="浙江省",
            ship_city="杭州市",
            ship_district="西湖区",
            ship_line1="文三路 100 号",
        )
    )


def stock(code: str, units: int):
    sku = SKUFactory(code=code)
    receive(sku, units, warehouse=WarehouseFactory())
    return sku


def draft(actor, acct=None, *, lines=None, deliveries=None):
    acct = acct or account()
    lines = lines or [LineInput("B2B-A", 90, Decimal("10.00")), LineInput("B2B-B", 30, Decimal("20.00"))]
    deliveries = deliveries or [
        DeliveryInput(TODAY, [30, 10]),
        DeliveryInput(TODAY + timedelta(days=14), [30, 10]),
        DeliveryInput(TODAY + timedelta(days=28), [30, 10]),
    ]
    return contracts.contract_save_draft(account=acct, lines=lines, deliveries=deliveries, actor=actor)


def senior_rule(amount="50000.00"):
    return ApprovalRule.objects.create(currency="CNY", min_amount=Decimal(amount), tier="senior")
