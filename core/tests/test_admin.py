import pytest
from django.urls import reverse

from catalog.models import Channel
from core.roles import Role
from orders.tests.factories import order_in_state

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, make_user):
    user = make_user(Role.ADMIN)
    user.is_staff = True
    user.save()
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "model",
    ["integrations/channel", "inventory/warehouse", "inventory/sku", "orders/customer", "orders/order"],
)
def test_master_data_lists_and_exports_render(admin_client, model):
    order_in_state("paid")
    app, name = model.split("/")
    assert admin_client.get(reverse(f"admin:{app}_{name}_changelist")).status_code == 200
    assert admin_client.get(reverse(f"admin:{app}_{name}_export")).status_code == 200


def test_channel_secret_is_write_only(admin_client):
    order_in_state("paid")
    channel = Channel.objects.get()
    channel.webhook_secret = "very-secret-value"
    channel.save()

    page = admin_client.get(reverse("admin:integrations_channel_change", args=[channel.pk]))
    assert page.status_code == 200
    assert "very-secret-value" not in page.content.decode()

    form = {
        "platform": "generic",
        "code": channel.code,
        "name": "Renamed",
        "time_zone": "Asia/Shanghai",
        "currency": "CNY",
        "reservation_ttl_minutes": 30,
        "webhook_secret": "",
        "is_active": "on",
        "writeback_on": "shipped",
    }
    response = admin_client.post(reverse("admin:integrations_channel_change", args=[channel.pk]), form)
    assert response.status_code == 302
    channel.refresh_from_db()
    assert (channel.name, channel.webhook_secret) == ("Renamed", "very-secret-value")

    form["api_credentials_json"] = '{"shop": "x.myshopify.com", "access_token": "tok-7f3a9e"}'
    admin_client.post(reverse("admin:integrations_channel_change", args=[channel.pk]), form)
    channel.refresh_from_db()
    assert channel.api_credentials == {"shop": "x.myshopify.com", "access_token": "tok-7f3a9e"}
    page = admin_client.get(reverse("admin:integrations_channel_change", args=[channel.pk]))
    assert "tok-7f3a9e" not in page.content.decode()


def test_order_status_cannot_be_edited_in_the_admin(admin_client):
    order = order_in_state("paid")
    page = admin_client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert 'name="status"' not in page
    assert admin_client.post(reverse("admin:orders_order_change", args=[order.pk]), {}).status_code == 403


def test_carrier_waybill_account_is_write_only(admin_client):
    from fulfilment.models import Carrier

    form = {"code": "sf", "name": "SF", "tracking_code": "shunfeng", "is_active": "on"}
    bad = admin_client.post(reverse("admin:orders_carrier_add"), {**form, "waybill_credentials_json": "[1]"})
    assert "Expected a JSON object." in bad.content.decode() and not Carrier.objects.exists()
    secret = '{"partnerId": "P-1", "partnerKey": "k-secret"}'
    admin_client.post(reverse("admin:orders_carrier_add"), {**form, "waybill_credentials_json": secret})
    carrier = Carrier.objects.get(code="sf")
    assert carrier.waybill_credentials["partnerKey"] == "k-secret"
    page = admin_client.get(reverse("admin:orders_carrier_change", args=[carrier.pk])).content.decode()
    assert "k-secret" not in page
    admin_client.post(
        reverse("admin:orders_carrier_change", args=[carrier.pk]), {**form, "name": "SF Express"}
    )
    carrier.refresh_from_db()
    assert carrier.name == "SF Express" and carrier.waybill_credentials["partnerKey"] == "k-secret"  # kept


def test_the_admin_is_branded_conduit_in_both_languages(admin_client):
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert "Conduit administration" in page and "Django administration" not in page

    admin_client.cookies["django_language"] = "zh-hans"
    page = admin_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "Conduit 管理后台" in page and "Django 管理" not in page
