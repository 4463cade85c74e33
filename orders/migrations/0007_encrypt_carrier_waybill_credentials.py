"""Secrets at rest, Carrier (waybill account): stored as Fernet tokens
(core.encrypted_fields). The column turns into text, then every stored value is written again,
encrypted; going back writes the plaintext first."""

from django.db import migrations

import core.encrypted_fields


def encrypt_existing(apps, schema_editor):
    core.encrypted_fields.reencrypt(apps.get_model("orders", "Carrier"), using=schema_editor.connection.alias)


def write_plaintext(apps, schema_editor):
    core.encrypted_fields.write_plaintext(apps.get_model("orders", "Carrier"), schema_editor)


class Migration(migrations.Migration):
    dependencies = [("orders", "0006_order_email_index")]

    operations = [
        migrations.AlterField(
            model_name="carrier",
            name="waybill_credentials",
            field=core.encrypted_fields.EncryptedJSONField(
                blank=True, default=dict, verbose_name="waybill account"
            ),
        ),
        migrations.RunPython(encrypt_existing, write_plaintext),
    ]
