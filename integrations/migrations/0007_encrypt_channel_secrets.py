"""Secrets at rest, Channel (webhook secret and API credentials): stored as Fernet tokens
(core.encrypted_fields). The column turns into text, then every stored value is written again,
encrypted; going back writes the plaintext first."""

from django.db import migrations

import core.encrypted_fields


def encrypt_existing(apps, schema_editor):
    core.encrypted_fields.reencrypt(
        apps.get_model("integrations", "Channel"), using=schema_editor.connection.alias
    )


def write_plaintext(apps, schema_editor):
    core.encrypted_fields.write_plaintext(apps.get_model("integrations", "Channel"), schema_editor)


class Migration(migrations.Migration):
    dependencies = [("integrations", "0006_inbound_message_sources")]

    operations = [
        migrations.AlterField(
            model_name="channel",
            name="webhook_secret",
            field=core.encrypted_fields.EncryptedTextField(
                blank=True, max_length=255, verbose_name="webhook secret"
            ),
        ),
        migrations.AlterField(
            model_name="channel",
            name="api_credentials",
            field=core.encrypted_fields.EncryptedJSONField(
                blank=True, default=dict, verbose_name="API credentials"
            ),
        ),
        migrations.RunPython(encrypt_existing, write_plaintext),
    ]
