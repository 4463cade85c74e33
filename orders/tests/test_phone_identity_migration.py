"""orders/migrations/0009: customers keyed by a phone as typed are re-keyed to E.164, and rows that
turn out to be one buyer are merged into the oldest."""

from datetime import UTC, datetime
from importlib import import_module

import pytest
from django.apps import apps

from orders.models import Customer, Order
from orders.tests.factories import ensure_master_data, make_order

pytestmark = pytest.mark.django_db

rekey_phone_customers = import_module(
    "orders.migrations.0009_customer_phone_identity_e164"
).rekey_phone_customers


def test_phone_keys_become_e164_and_one_buyer_becomes_one_customer():
    ensure_master_data()
    digits = Customer.objects.create(
        identity_key="phone:13800000001",
        phone="13800000001",
        order_count=2,
        last_order_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    plus = Customer.objects.create(
        identity_key="phone:+8613800000001",
        phone="+8613800000001",
        is_vip=True,
        order_count=1,
        email="w@example.com",
    )
    alone = Customer.objects.create(identity_key="phone:13900000009", phone="13900000009")
    masked = Customer.objects.create(identity_key="phone:136", phone="136")
    by_email = Customer.objects.create(identity_key="email:x@example.com", email="x@example.com")
    order = make_order()
    Order.objects.filter(pk=order.pk).update(customer=plus)

    rekey_phone_customers(apps, None)

    digits.refresh_from_db()
    assert (digits.identity_key, digits.phone) == ("phone:+8613800000001", "+8613800000001")
    assert (digits.order_count, digits.is_vip, digits.email) == (3, True, "w@example.com")
    assert digits.last_order_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert not Customer.objects.filter(pk=plus.pk).exists()
    assert Order.objects.get(pk=order.pk).customer_id == digits.pk
    assert Customer.objects.get(pk=alone.pk).identity_key == "phone:+8613900000009"
    assert Customer.objects.get(pk=masked.pk).identity_key == "phone:136"  # no number: left alone
    assert Customer.objects.get(pk=by_email.pk).identity_key == "email:x@example.com"
