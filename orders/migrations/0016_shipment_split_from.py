# Parcels split off a shipment by a cloud warehouse's confirmation (issue #17 part 5).

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0015_shipment_label_prints"),
    ]

    operations = [
        migrations.AddField(
            model_name="shipment",
            name="split_from",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="split_parcels",
                to="orders.shipment",
                verbose_name="split from",
            ),
        ),
    ]
