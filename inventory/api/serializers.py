from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from catalog.models import Channel
from core.plain_validation import PlainValidation
from core.serializer_fields import active_by_code
from inventory.api.fields import recently_active_by_code
from inventory.models import SKU, MovementKind, Reservation, StockMovement, StockPool, Warehouse

API_MOVEMENT_KINDS = [
    MovementKind.RECEIPT,
    MovementKind.ADJUSTMENT,
    MovementKind.RETURN,
    MovementKind.WRITE_OFF,
]


class StockQuery(serializers.Serializer):
    sku = serializers.SlugRelatedField(slug_field="code", queryset=SKU.objects.all())


class StockFigures(serializers.Serializer):
    on_hand = serializers.IntegerField()
    reserved = serializers.IntegerField()
    qc_hold = serializers.IntegerField()
    available = serializers.IntegerField()


class LotStock(serializers.Serializer):
    lot = serializers.CharField()
    expires_on = serializers.DateField(allow_null=True)
    pool = serializers.CharField()
    on_hand = serializers.IntegerField()
    available = serializers.IntegerField()


class WarehouseStock(StockFigures):
    warehouse = serializers.CharField()
    name = serializers.CharField()
    in_transit = serializers.IntegerField(
        help_text=_("Units shipped here by transfers, not yet received: neither on hand nor available.")
    )
    pools = serializers.DictField(child=StockFigures(), help_text=_("By pool code."))
    lots = LotStock(many=True, required=False, help_text=_("Only for lot-tracked stock."))


class StockOutput(serializers.Serializer):
    """The shape of GET /stock/ (documentation: the view builds the body itself)."""

    sku = serializers.CharField()
    warehouses = WarehouseStock(many=True)
    channels = serializers.DictField(
        child=serializers.IntegerField(), help_text=_("Sellable quantity by channel code.")
    )


class MovementInput(serializers.Serializer):
    sku = active_by_code(SKU.objects.all())
    warehouse = active_by_code(Warehouse.objects.all())
    quantity = serializers.IntegerField(min_value=-1_000_000, max_value=1_000_000)
    kind = serializers.ChoiceField(choices=[(k.value, k.label) for k in API_MOVEMENT_KINDS])
    reference = serializers.CharField(max_length=100)
    pool = serializers.SlugRelatedField(
        slug_field="code", queryset=StockPool.objects.all(), required=False, allow_null=True
    )
    lot = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    expires_on = serializers.DateField(required=False, allow_null=True)
    note = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    idempotency_key = serializers.CharField(max_length=100, required=False, allow_null=True)


class MovementOutput(serializers.ModelSerializer):
    sku = serializers.CharField(source="sku.code")
    warehouse = serializers.CharField(source="balance.warehouse.code")
    pool = serializers.CharField(source="balance.pool.code")
    lot = serializers.CharField(source="balance.lot.code", default=None, allow_null=True)

    class Meta:
        model = StockMovement
        fields = [
            "id",
            "kind",
            "sku",
            "warehouse",
            "pool",
            "lot",
            "on_hand_delta",
            "reserved_delta",
            "qc_hold_delta",
            "reference",
            "note",
            "created_at",
        ]
        read_only_fields = fields


class LockLineInput(serializers.Serializer):
    sku = recently_active_by_code(SKU.objects.all())
    quantity = serializers.IntegerField(min_value=1, max_value=10_000)


class LockInput(PlainValidation, serializers.Serializer):  # DRF's result, at a fraction of its CPU
    channel = recently_active_by_code(Channel.objects.all())
    reference = serializers.CharField(max_length=100, help_text=_("The caller's checkout or cart id."))
    ttl_seconds = serializers.IntegerField(min_value=30, max_value=86_400, required=False)
    lines = LockLineInput(many=True, allow_empty=False, max_length=100)


class LockOutput(serializers.ModelSerializer):
    sku = serializers.CharField(source="sku.code")

    class Meta:
        model = Reservation
        fields = ["fingerprint", "sku", "quantity", "expires_at", "reference"]
        read_only_fields = fields


class LockReleaseInput(serializers.Serializer):
    fingerprints = serializers.ListField(
        child=serializers.CharField(max_length=32), allow_empty=False, max_length=100
    )
    reason = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
