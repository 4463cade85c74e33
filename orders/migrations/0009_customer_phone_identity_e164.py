"""Customers keyed by a phone as it was typed ("phone:13800000001", "phone:+8613800000001") are
re-keyed to E.164 ("phone:+8613800000001"), the form the intake now uses. Rows that become the same
buyer are merged into the oldest (lowest id): its orders, order count, VIP flag and last order
time gather there. Keys that are not a valid number (masked ones such as "phone:136", cut from
"136********") are left as they are: no order will match them again.

Numbers without a country code are read in settings.PHONE_DEFAULT_REGION, as the intake does
when an order's address names no country."""

from django.db import migrations


def _e164(digits: str, region: str) -> str | None:
    import phonenumbers

    try:
        number = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def rekey_phone_customers(apps, schema_editor):
    from django.conf import settings

    Customer = apps.get_model("orders", "Customer")
    Order = apps.get_model("orders", "Order")
    region = settings.PHONE_DEFAULT_REGION.upper()
    groups: dict[str, list] = {}
    for customer in Customer.objects.filter(identity_key__startswith="phone:").order_by("pk"):
        number = _e164(customer.identity_key.removeprefix("phone:"), region)
        if number:
            groups.setdefault(f"phone:{number}", []).append(customer)
    for key, customers in groups.items():
        keeper, others = customers[0], customers[1:]
        if others:
            ids = [other.pk for other in others]
            Order.objects.filter(customer_id__in=ids).update(customer_id=keeper.pk)
            keeper.order_count = sum(c.order_count for c in customers)
            keeper.last_order_at = max((c.last_order_at for c in customers if c.last_order_at), default=None)
            keeper.is_vip = any(c.is_vip for c in customers)
            keeper.name = keeper.name or next((c.name for c in others if c.name), "")
            keeper.email = keeper.email or next((c.email for c in others if c.email), "")
            Customer.objects.filter(pk__in=ids).delete()
        keeper.identity_key = key
        keeper.phone = key.removeprefix("phone:")
        keeper.save()


class Migration(migrations.Migration):
    dependencies = [("orders", "0008_order_requires_shipping")]

    operations = [migrations.RunPython(rekey_phone_customers, migrations.RunPython.noop, elidable=True)]
