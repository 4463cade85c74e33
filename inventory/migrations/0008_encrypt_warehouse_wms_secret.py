"""Secrets at rest, Warehouse (WMS secret): stored as Fernet tokens
(core.encrypted_fields). The column turns into text, then every stored value is written again,
encrypted; going back writes the plaintext first."""

from django.db import migrations

import core.encrypted_fields


def encrypt_existing(apps, schema_editor):
    core.encrypted_fields.reencrypt(
        apps.get_model("inventory", "Warehouse"), using=schema_editor.connection.alias
    )


def write_plaintext(apps, schema_editor):
    core.encrypted_fields.write_plaintext(apps.get_model("inventory", "Warehouse"), schema_editor)


class Migration(migrations.Migration):
    dependencies = [("inventory", "0007_fulfilment")]

    operations = [
        migrations.AlterField(
            model_name="warehouse",
            name="wms_secret",
            field=core.encrypted_fields.EncryptedTextField(
                blank=True, max_length=255, verbose_name="WMS secret"
            ),
        ),
        migrations.RunPython(encrypt_existing, write_plaintext),
    ]
