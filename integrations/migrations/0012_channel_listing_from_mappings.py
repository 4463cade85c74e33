# Channel listings made from item mappings (issue #14 part 3), with the WooCommerce variation id.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0011_order_upload_task_starts"),
        ("inventory", "0012_item_mappings"),
    ]

    operations = [
        migrations.AddField(
            model_name="channellisting",
            name="item_mapping",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="listings",
                to="inventory.itemmapping",
                verbose_name="item mapping",
            ),
        ),
        migrations.AddField(
            model_name="channellisting",
            name="platform_sku_id",
            field=models.CharField(
                blank=True,
                help_text="WooCommerce variation id (the platform item id is then its product's id).",
                max_length=64,
                verbose_name="platform SKU id",
            ),
        ),
        migrations.AlterField(
            model_name="channellisting",
            name="platform_item_id",
            field=models.CharField(
                help_text="Shopify inventory item id; WooCommerce product id.",
                max_length=64,
                verbose_name="platform item id",
            ),
        ),
    ]
