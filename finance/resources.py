"""django-import-export resources: the admin's export of statement lines (R-D4), and the
library's default import/export path that the benchmarks measure ours against."""

from import_export import fields, resources

from finance.imports.models import StatementLine


class StatementLineResource(resources.ModelResource):
    order_number = fields.Field(attribute="order__number", column_name="order_number", readonly=True)
    period = fields.Field(attribute="period", column_name="period", readonly=True)

    class Meta:
        model = StatementLine
        fields = (
            "id",
            "occurred_at",
            "source",
            "account",
            "entry_id",
            "kind",
            "amount",
            "currency",
            "transaction_id",
            "order_ref",
            "order_number",
            "counterparty",
            "memo",
            "period",
            "period_note",
            "batch",
        )
        export_order = fields
        import_id_fields = ("source", "account", "entry_id")
