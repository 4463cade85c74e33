"""Issue #13: channel webhook secrets, platform API credentials, WMS secrets and carrier waybill
accounts are stored encrypted (core.encrypted_fields), keys from FIELD_ENCRYPTION_KEYS, rotated
by `manage.py rotate_encryption_keys`."""

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import FieldError
from django.core.management import call_command
from django.db import connection

from catalog.models import Channel
from core import encryption
from core.encrypted_fields import reencrypt
from fulfilment.models import Carrier
from inventory.models import Warehouse
from orders.tests.factories import CarrierFactory, ChannelFactory, WarehouseFactory

pytestmark = pytest.mark.django_db

OLD_KEY, NEW_KEY = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def raw_column(model, field: str, pk: int) -> str:
    """What the database holds, read past the ORM."""
    table, column = model._meta.db_table, model._meta.get_field(field).column
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT "{column}" FROM "{table}" WHERE id = %s', [pk])
        return cursor.fetchone()[0]


def write_raw(model, field: str, pk: int, value: str) -> None:
    table, column = model._meta.db_table, model._meta.get_field(field).column
    with connection.cursor() as cursor:
        cursor.execute(f'UPDATE "{table}" SET "{column}" = %s WHERE id = %s', [value, pk])


@pytest.fixture
def secrets(db):
    channel = ChannelFactory(
        code="shop-enc",
        platform="shopify",
        webhook_secret="shpss_webhook_plain",
        api_credentials={"access_token": "shpat_plain_token", "shop": "x.myshopify.com"},
    )
    warehouse = WarehouseFactory(code="WH-ENC", wms_secret="qimen-plain-secret")
    carrier = CarrierFactory(code="zto-enc", waybill_credentials={"partnerKey": "k100-plain-key"})
    return channel, warehouse, carrier


def test_no_secret_is_in_its_column_yet_each_reads_back(secrets):
    channel, warehouse, carrier = secrets
    columns = [
        (Channel, "webhook_secret", channel.pk, "shpss_webhook_plain"),
        (Channel, "api_credentials", channel.pk, "shpat_plain_token"),
        (Warehouse, "wms_secret", warehouse.pk, "qimen-plain-secret"),
        (Carrier, "waybill_credentials", carrier.pk, "k100-plain-key"),
    ]
    for model, field, pk, secret in columns:
        stored = raw_column(model, field, pk)
        assert secret not in stored and encryption.is_token(stored), (model, field)

    channel, warehouse, carrier = (type(x).objects.get(pk=x.pk) for x in secrets)
    assert channel.webhook_secret == "shpss_webhook_plain"
    assert channel.api_credentials["access_token"] == "shpat_plain_token"
    assert warehouse.wms_secret == "qimen-plain-secret"
    assert carrier.waybill_credentials == {"partnerKey": "k100-plain-key"}


def test_empty_values_stay_queryable(secrets):
    bare = ChannelFactory(code="shop-bare", platform="shopify")

    assert raw_column(Channel, "api_credentials", bare.pk) == ""
    with_credentials = Channel.objects.exclude(api_credentials={}).values_list("code", flat=True)
    assert "shop-enc" in with_credentials and "shop-bare" not in with_credentials
    assert Channel.objects.get(pk=bare.pk).api_credentials == {}
    with pytest.raises(FieldError, match="encrypted"):
        list(Channel.objects.filter(webhook_secret="shpss_webhook_plain"))


def test_plaintext_left_from_before_is_read_then_encrypted_by_the_migration_step(secrets):
    channel, warehouse, _carrier = secrets
    write_raw(Channel, "webhook_secret", channel.pk, "legacy-secret")
    write_raw(Channel, "api_credentials", channel.pk, '{"access_token": "legacy-token"}')
    write_raw(Warehouse, "wms_secret", warehouse.pk, "legacy-wms")
    bare = ChannelFactory(code="shop-bare", platform="shopify")
    write_raw(Channel, "api_credentials", bare.pk, "{}")  # jsonb's empty object, as text

    assert Channel.objects.get(pk=channel.pk).api_credentials == {"access_token": "legacy-token"}
    for model in (Channel, Warehouse):
        reencrypt(model)  # what the data migrations run

    assert encryption.is_token(raw_column(Channel, "webhook_secret", channel.pk))
    assert "legacy-token" not in raw_column(Channel, "api_credentials", channel.pk)
    assert "legacy-wms" not in raw_column(Warehouse, "wms_secret", warehouse.pk)
    channel = Channel.objects.get(pk=channel.pk)
    assert (channel.webhook_secret, channel.api_credentials) == (
        "legacy-secret",
        {"access_token": "legacy-token"},
    )
    assert Warehouse.objects.get(pk=warehouse.pk).wms_secret == "legacy-wms"
    assert raw_column(Channel, "api_credentials", bare.pk) == ""  # empty again, and queryable


def test_rotation_re_encrypts_everything_with_the_new_first_key(settings, secrets):
    channel, warehouse, carrier = secrets  # written under the key derived from SECRET_KEY
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY, encryption.derived_key(settings.SECRET_KEY).decode()]
    for model in (Channel, Warehouse, Carrier):
        reencrypt(model)  # now all under OLD_KEY
    before = raw_column(Channel, "webhook_secret", channel.pk)
    assert Fernet(OLD_KEY.encode()).decrypt(before.encode()) == b"shpss_webhook_plain"

    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    out = StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]  # the old key is gone

    assert "integrations.Channel: 1 row(s)" in out.getvalue()
    after = raw_column(Channel, "webhook_secret", channel.pk)
    assert after != before and Fernet(NEW_KEY.encode()).decrypt(after.encode()) == b"shpss_webhook_plain"
    assert Channel.objects.get(pk=channel.pk).api_credentials["access_token"] == "shpat_plain_token"
    assert Warehouse.objects.get(pk=warehouse.pk).wms_secret == "qimen-plain-secret"
    assert Carrier.objects.get(pk=carrier.pk).waybill_credentials == {"partnerKey": "k100-plain-key"}


def test_a_value_no_configured_key_opens_is_a_clear_configuration_error(settings, secrets):
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]  # written under the derived key, which is now gone

    with pytest.raises(encryption.UndecryptableSecret, match="integrations.Channel.webhook_secret"):
        Channel.objects.get(code="shop-enc")


def test_malformed_keys_fail_the_system_check(settings):
    settings.FIELD_ENCRYPTION_KEYS = ["not-a-key"]

    assert [message.id for message in encryption.check_encryption_keys()] == ["core.E001"]
    settings.FIELD_ENCRYPTION_KEYS = []
    assert [message.id for message in encryption.check_encryption_keys_deployed()] == ["core.W001"]


def test_fixtures_carry_the_token_never_the_secret(secrets):
    out = StringIO()
    call_command("dumpdata", "integrations.channel", stdout=out)

    assert "shpss_webhook_plain" not in out.getvalue() and "shpat_plain_token" not in out.getvalue()
