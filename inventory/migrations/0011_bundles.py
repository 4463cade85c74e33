# Bundles (组合装), issue #14 part 4: SKU.is_bundle and the bundle's components.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0010_cycle_count_upload_task_starts"),
    ]

    operations = [
        migrations.AddField(
            model_name="sku",
            name="is_bundle",
            field=models.BooleanField(
                db_default=False,
                default=False,
                help_text="Sold as one item, made of the components below; it holds no stock of its own.",
                verbose_name="bundle",
            ),
        ),
        migrations.CreateModel(
            name="BundleComponent",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("quantity", models.PositiveIntegerField(default=1, verbose_name="quantity per bundle")),
                (
                    "reference_price",
                    models.DecimalField(
                        decimal_places=2,
                        default=0,
                        help_text="What one unit is worth inside the bundle: splits the bundle's paid amount for refunds.",
                        max_digits=18,
                        verbose_name="reference price",
                    ),
                ),
                (
                    "bundle",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="bundle_components",
                        to="inventory.sku",
                        verbose_name="bundle",
                    ),
                ),
                (
                    "component",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="in_bundles",
                        to="inventory.sku",
                        verbose_name="component",
                    ),
                ),
            ],
            options={
                "verbose_name": "bundle component",
                "verbose_name_plural": "bundle components",
                "ordering": ["bundle", "pk"],
                "constraints": [
                    models.UniqueConstraint(fields=("bundle", "component"), name="bundle_component_unique"),
                    models.CheckConstraint(
                        condition=models.Q(("quantity__gt", 0)), name="bundle_component_quantity_positive"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("reference_price__gte", 0)),
                        name="bundle_component_reference_price_not_negative",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("bundle", models.F("component")), _negated=True),
                        name="bundle_component_not_itself",
                    ),
                ],
            },
        ),
    ]
