"""Demo data for B2B (manage.py seed_demo): one wholesale account with a price list and a contract
in delivery — approved by someone other than its author, its first delivery due today (the beat
job releases it). Like the rest of seed_demo it queues no task per order."""

from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import Sum

from b2b import contracts
from b2b.accounts import account_save
from b2b.contracts import DeliveryInput, LineInput
from b2b.models import ApprovalRule, ApprovalTier, B2BAccount, PriceList, PriceListItem
from catalog.models import Channel, Platform, WriteBackMoment
from core.timezones import business_date
from inventory.models import SKU

DEMO_ACCOUNT = "hz-wholesale"


def seed_b2b_demo(*, author: str = "agent", approver: str = "manager") -> B2BAccount | None:
    """Once: a second run leaves the account as it is."""
    if B2BAccount.objects.filter(code=DEMO_ACCOUNT).exists():
        return None
    skus = list(
        SKU.objects.filter(is_active=True, presale=False, is_bundle=False)
        .annotate(stock=Sum("balances__on_hand"))
        .filter(stock__gte=40)
        .order_by("-stock", "code")[:2]
    )
    if len(skus) < 2:
        return None
    channel, _created = Channel.objects.update_or_create(
        code="b2b-wholesale",
        defaults={
            "platform": Platform.GENERIC,
            "name": "B2B 批发",
            "currency": "CNY",
            "notify_customers": False,
            "writeback_on": WriteBackMoment.OFF,
        },
    )
    prices = PriceList.objects.create(name="批发价 2026", currency="CNY")
    for sku, price in zip(skus, ("48.00", "120.00"), strict=True):
        PriceListItem.objects.create(price_list=prices, sku=sku, unit_price=Decimal(price))
        PriceListItem.objects.create(
            price_list=prices, sku=sku, min_quantity=50, unit_price=Decimal(price) * 9 / 10
        )
    ApprovalRule.objects.get_or_create(
        currency="CNY", min_amount=Decimal("200000.00"), defaults={"tier": ApprovalTier.SENIOR}
    )
    account = account_save(
        B2BAccount(
            code=DEMO_ACCOUNT,
            name="杭州优选商贸有限公司",
            channel=channel,
            currency="CNY",
            credit_limit=Decimal("100000.00"),
            payment_terms_days=45,
            price_list=prices,
            contact_name="陈经理",
            contact_phone="13905710001",
            contact_email="purchasing@hz-youxuan.example.com",
            ship_country="CN",
            ship_province="浙江省",
            ship_city="杭州市",
            ship_district="余杭区",
            ship_line1="仓前街道 文一西路 1500 号 3 号库",
            ship_postcode="311121",
        )
    )
    users = get_user_model().objects
    today = business_date()
    contract = contracts.contract_save_draft(
        account=account,
        lines=[LineInput(skus[0].code, 30), LineInput(skus[1].code, 12, Decimal("110.00"))],
        deliveries=[
            DeliveryInput(today, [10, 4]),
            DeliveryInput(today + timedelta(days=14), [10, 4]),
            DeliveryInput(today + timedelta(days=28), [10, 4]),
        ],
        actor=users.get(username=author),
        note="框架合同：分三批交货",
    )
    contracts.contract_submit(contract=contract, actor=users.get(username=author))
    contracts.contract_approve(contract=contract, actor=users.get(username=approver), follow_up=False)
    return account
