# Item mappings (issue #14 part 3): which SKU a platform item is, per channel.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0011_order_upload_task_starts"),
        ("inventory", "0011_bundles"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ItemMapping",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "created_at",
                    models.DateTimeField(auto_now_add=True, db_index=True, verbose_name="created at"),
                ),
                ("updated_at", models.DateTimeField(auto_now=True, verbose_name="updated at")),
                (
                    "platform_item_id",
                    models.CharField(
                        blank=True,
                        help_text="Shopify product id, WooCommerce product id, Taobao item id (num_iid).",
                        max_length=64,
                        verbose_name="platform item id",
                    ),
                ),
                (
                    "platform_sku_id",
                    models.CharField(
                        blank=True,
                        help_text="Shopify variant id, WooCommerce variation id, Taobao sku_id; empty for an item without variants.",
                        max_length=64,
                        verbose_name="platform SKU id",
                    ),
                ),
                (
                    "seller_code",
                    models.CharField(
                        blank=True,
                        help_text="The seller's own code on the platform: Shopify or WooCommerce SKU, Taobao outer_sku_id.",
                        max_length=64,
                        verbose_name="seller code",
                    ),
                ),
                ("title", models.CharField(blank=True, max_length=255, verbose_name="title")),
                (
                    "channel",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="item_mappings",
                        to="integrations.channel",
                        verbose_name="channel",
                    ),
                ),
                (
                    "mapped_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="mapped by",
                    ),
                ),
                (
                    "sku",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="item_mappings",
                        to="inventory.sku",
                        verbose_name="SKU",
                    ),
                ),
            ],
            options={
                "verbose_name": "item mapping",
                "verbose_name_plural": "item mappings",
                "ordering": ["channel", "seller_code", "platform_item_id", "platform_sku_id"],
                "indexes": [
                    models.Index(
                        condition=models.Q(("platform_sku_id", ""), _negated=True),
                        fields=["channel", "platform_sku_id"],
                        name="item_mapping_sku_id",
                    )
                ],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            ("platform_item_id", ""),
                            ("platform_sku_id", ""),
                            ("seller_code", ""),
                            _negated=True,
                        ),
                        name="item_mapping_names_an_item",
                    ),
                    models.UniqueConstraint(
                        condition=models.Q(("platform_item_id", ""), ("platform_sku_id", ""), _negated=True),
                        fields=("channel", "platform_item_id", "platform_sku_id"),
                        name="item_mapping_unique_ids",
                    ),
                    models.UniqueConstraint(
                        condition=models.Q(("seller_code", ""), _negated=True),
                        fields=("channel", "seller_code"),
                        name="item_mapping_unique_seller_code",
                    ),
                ],
            },
        ),
    ]
