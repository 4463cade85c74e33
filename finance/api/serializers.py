from decimal import Decimal

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.money import ZERO
from core.timezones import business_zone, to_utc
from finance.models import Payment, PaymentProvider
from orders.canonical import PlatformDateTimeField, money_field
from orders.models import OrderStatus


@extend_schema_field(OpenApiTypes.DATETIME)
class PaidAtField(PlatformDateTimeField):
    """ISO 8601 with its offset kept; a time without one is read in the business time zone."""

    def to_internal_value(self, data):
        return to_utc(super().to_internal_value(data), business_zone())


class PaymentInput(serializers.Serializer):
    """SPEC §7: {"order_number", "transaction_id", "amount", "currency", "paid_at", "method"};
    `provider` (default "api") and `fee` are optional."""

    order_number = serializers.CharField(max_length=24)
    transaction_id = serializers.CharField(max_length=128)
    amount = money_field(min_value=Decimal("0.01"))
    currency = serializers.RegexField(
        r"^[A-Z]{3}$", error_messages={"invalid": _("Use a three-letter ISO 4217 code.")}
    )
    paid_at = PaidAtField(help_text=_("ISO 8601; a time without offset is read in the business time zone."))
    method = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    provider = serializers.ChoiceField(
        choices=PaymentProvider.choices, required=False, default=PaymentProvider.API
    )
    fee = money_field(required=False, default=ZERO)

    def validate(self, attrs):
        if attrs["fee"] > attrs["amount"]:
            raise serializers.ValidationError({"fee": _("More than the payment.")})
        return attrs


class PaymentOutput(serializers.ModelSerializer):
    order_number = serializers.CharField(source="order.number")
    order_status = serializers.ChoiceField(source="order.status", choices=OrderStatus.choices, read_only=True)
    period = serializers.CharField(source="period.__str__")

    class Meta:
        model = Payment
        fields = [
            "id",
            "order_number",
            "order_status",
            "provider",
            "transaction_id",
            "amount",
            "currency",
            "fee",
            "refunded_amount",
            "paid_at",
            "method",
            "status",
            "period",
            "period_note",
            "created_at",
            "rate",  # to business_currency, fixed when recorded; null until a rate is known
            "rate_date",
            "business_amount",
            "business_currency",
        ]
        read_only_fields = fields
