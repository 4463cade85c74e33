# A warehouse's own carrier codes (issue #17 part 5): what its WMS confirmations name carriers with.

import django.db.models.deletion
import django.db.models.functions.text
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0012_item_mappings"),
        ("orders", "0015_shipment_label_prints"),
    ]

    operations = [
        migrations.CreateModel(
            name="WarehouseCarrierCode",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("code", models.CharField(max_length=50, verbose_name="warehouse's carrier code")),
                (
                    "carrier",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="orders.carrier",
                        verbose_name="carrier",
                    ),
                ),
                (
                    "warehouse",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="carrier_codes",
                        to="inventory.warehouse",
                        verbose_name="warehouse",
                    ),
                ),
            ],
            options={
                "verbose_name": "warehouse carrier code",
                "verbose_name_plural": "warehouse carrier codes",
                "ordering": ["warehouse", "code"],
                "constraints": [
                    models.UniqueConstraint(
                        models.F("warehouse"),
                        django.db.models.functions.text.Upper("code"),
                        name="warehouse_carrier_code_unique",
                    )
                ],
            },
        ),
    ]
