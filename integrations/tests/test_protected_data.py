"""Protected receiver data: stored as the platform gives it, decrypted only through the platform's
client when needed, every call audited (integrations.protected_data)."""

import pytest

from core.errors import NotPermitted
from core.http import PlatformError
from integrations import protected_data
from integrations.protected_data import DecryptionRefused, receiver_plain
from orders.models import Customer, ReceiverDecryption
from orders.tests.factories import make_order

pytestmark = pytest.mark.django_db

PROTECTED = {
    "name": {"masked": "王*", "cipher": "~AgAAAA1…name~", "index": "idx-name"},
    "phone": {"masked": "138****0001", "cipher": "$AgAAAA2…phone$", "index": "idx-phone"},
    "address": {"masked": "文三路**号", "cipher": "#AgAAAA3…addr#", "index": ""},
}


class FakeClient:
    calls: list = []
    fail = False

    def __init__(self, channel):
        self.channel = channel

    def decrypt_receiver(self, external_id, protected):
        FakeClient.calls.append((external_id, protected))
        if FakeClient.fail:
            raise PlatformError("decrypt quota used up for today")
        return {"name": "王芳", "phone": "13800000001", "address": "文三路 90 号"}


@pytest.fixture
def fake_platform(monkeypatch):
    FakeClient.calls, FakeClient.fail = [], False
    monkeypatch.setattr(
        protected_data, "get_adapter", lambda platform: type("A", (), {"client_class": FakeClient})
    )
    return FakeClient


def masked_order():
    return make_order(
        customer={"name": "王*", "phone": "138****0001", "email": ""},
        shipping_address={
            "country": "CN",
            "province": "浙江省",
            "city": "杭州市",
            "line1": "文三路**号",
            "name": "王*",
            "phone": "138****0001",
        },
        protected_receiver=PROTECTED,
    )


def test_masked_text_is_shown_and_the_ciphertext_kept_never_an_identity():
    order = masked_order()
    assert (order.ship_name, order.ship_phone, order.ship_line1) == ("王*", "138****0001", "文三路**号")
    assert order.receiver_protected == PROTECTED
    assert order.customer is None and not Customer.objects.exists()


def test_decrypting_asks_the_platform_and_audits_it(fake_platform, manager):
    order = masked_order()

    plain = receiver_plain(order=order, purpose="waybill", actor=manager)

    assert plain == {"name": "王芳", "phone": "13800000001", "address": "文三路 90 号"}
    assert fake_platform.calls == [(order.external_id, PROTECTED)]
    audit = ReceiverDecryption.objects.get()
    assert (audit.order, audit.purpose, audit.fields, audit.actor, audit.succeeded) == (
        order,
        "waybill",
        ["name", "phone", "address"],
        manager,
        True,
    )
    order.refresh_from_db()
    assert order.ship_phone == "138****0001"  # plain text is never stored


def test_a_refusal_is_audited_and_said(fake_platform):
    order = masked_order()
    fake_platform.fail = True

    with pytest.raises(DecryptionRefused, match="decrypt quota used up"):
        receiver_plain(order=order, purpose="wms_push")

    assert ReceiverDecryption.objects.get().error == "decrypt quota used up for today"


def test_only_permitted_users_decrypt_and_unprotected_orders_need_no_call(fake_platform, warehouse_user):
    with pytest.raises(NotPermitted):
        receiver_plain(order=masked_order(), purpose="desk", actor=warehouse_user)
    plain = make_order()
    assert receiver_plain(order=plain, purpose="waybill")["phone"] == plain.ship_phone
    assert fake_platform.calls == [] and not ReceiverDecryption.objects.exists()
