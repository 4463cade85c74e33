"""Daily exchange rates, and the rate fixed on each payment. On PostgreSQL a trigger refuses to
change a payment's rate once it is set (payments recorded before this migration get theirs from
the repair job, finance.tasks.fill_payment_rates)."""

import django.core.validators
from django.db import migrations, models


FIXED = """
CREATE OR REPLACE FUNCTION finance_payment_rate_fixed() RETURNS trigger AS $$
BEGIN
    IF OLD.rate IS NOT NULL AND (
        NEW.rate IS DISTINCT FROM OLD.rate OR NEW.rate_date IS DISTINCT FROM OLD.rate_date
        OR NEW.business_amount IS DISTINCT FROM OLD.business_amount
        OR NEW.business_currency IS DISTINCT FROM OLD.business_currency
    ) THEN
        RAISE EXCEPTION USING MESSAGE = 'the exchange rate of payment ' || OLD.id || ' is fixed';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER finance_payment_rate_fixed
    BEFORE UPDATE ON finance_payment
    FOR EACH ROW EXECUTE FUNCTION finance_payment_rate_fixed();
"""
UNFIXED = """
DROP TRIGGER IF EXISTS finance_payment_rate_fixed ON finance_payment;
DROP FUNCTION IF EXISTS finance_payment_rate_fixed();
"""


def _on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("finance", "0005_revenue_tax_and_adjustments"),
    ]

    operations = [
        migrations.CreateModel(
            name="ExchangeRate",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("date", models.DateField(verbose_name="date")),
                (
                    "currency",
                    models.CharField(
                        max_length=3,
                        validators=[
                            django.core.validators.RegexValidator(
                                "^[A-Z]{3}$", "Use a three-letter ISO 4217 code, e.g. CNY."
                            )
                        ],
                        verbose_name="currency",
                    ),
                ),
                (
                    "business_currency",
                    models.CharField(
                        max_length=3,
                        validators=[
                            django.core.validators.RegexValidator(
                                "^[A-Z]{3}$", "Use a three-letter ISO 4217 code, e.g. CNY."
                            )
                        ],
                        verbose_name="business currency",
                    ),
                ),
                (
                    "rate",
                    models.DecimalField(
                        decimal_places=12,
                        help_text="Units of the business currency for one unit of the currency.",
                        max_digits=24,
                        verbose_name="rate",
                    ),
                ),
                (
                    "source",
                    models.CharField(
                        choices=[("import", "Imported by finance"), ("ecb", "European Central Bank")],
                        max_length=20,
                        verbose_name="source",
                    ),
                ),
                ("basis", models.CharField(blank=True, max_length=120, verbose_name="computed from")),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created at")),
                ("updated_at", models.DateTimeField(auto_now=True, verbose_name="updated at")),
            ],
            options={
                "verbose_name": "exchange rate",
                "verbose_name_plural": "exchange rates",
                "ordering": ["-date", "currency"],
            },
        ),
        migrations.AddField(
            model_name="payment",
            name="business_amount",
            field=models.DecimalField(
                blank=True,
                decimal_places=2,
                default=None,
                max_digits=18,
                null=True,
                verbose_name="amount in the business currency",
            ),
        ),
        migrations.AddField(
            model_name="payment",
            name="business_currency",
            field=models.CharField(
                blank=True,
                max_length=3,
                validators=[
                    django.core.validators.RegexValidator(
                        "^[A-Z]{3}$", "Use a three-letter ISO 4217 code, e.g. CNY."
                    )
                ],
                verbose_name="business currency",
            ),
        ),
        migrations.AddField(
            model_name="payment",
            name="rate",
            field=models.DecimalField(
                blank=True, decimal_places=12, max_digits=24, null=True, verbose_name="exchange rate"
            ),
        ),
        migrations.AddField(
            model_name="payment",
            name="rate_date",
            field=models.DateField(blank=True, null=True, verbose_name="rate of"),
        ),
        migrations.AddIndex(
            model_name="payment",
            index=models.Index(
                condition=models.Q(("rate__isnull", True)), fields=["id"], name="payment_without_rate_idx"
            ),
        ),
        migrations.AddConstraint(
            model_name="payment",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(
                        ("business_amount__isnull", True), ("rate__isnull", True), ("rate_date__isnull", True)
                    ),
                    models.Q(
                        ("business_amount__isnull", False), ("rate__gt", 0), ("rate_date__isnull", False)
                    ),
                    _connector="OR",
                ),
                name="payment_rate_complete",
            ),
        ),
        migrations.AddConstraint(
            model_name="exchangerate",
            constraint=models.UniqueConstraint(
                fields=("business_currency", "currency", "date"), name="exchange_rate_unique_day"
            ),
        ),
        migrations.AddConstraint(
            model_name="exchangerate",
            constraint=models.CheckConstraint(
                condition=models.Q(("rate__gt", 0)), name="exchange_rate_positive"
            ),
        ),
        migrations.AddConstraint(
            model_name="exchangerate",
            constraint=models.CheckConstraint(
                condition=models.Q(("currency", models.F("business_currency")), _negated=True),
                name="exchange_rate_not_to_itself",
            ),
        ),
        migrations.RunPython(_on_postgresql(FIXED), _on_postgresql(UNFIXED)),
    ]
