from collections import defaultdict

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.permissions import RoleModelPermissions
from integrations.models import Channel
from inventory import selectors, services
from inventory.api.serializers import MovementInput, MovementOutput, StockQuery
from inventory.models import StockBalance, StockMovement


class StockView(APIView):
    """Stock of one SKU per warehouse (and per pool and lot), with each channel's sellable quantity."""

    queryset = StockBalance.objects.none()
    permission_classes = [RoleModelPermissions]

    @extend_schema(
        parameters=[OpenApiParameter("sku", str, required=True)],
        responses=inline_serializer(
            "Stock",
            {
                "sku": serializers.CharField(),
                "warehouses": serializers.ListField(),
                "channels": serializers.DictField(),
            },
        ),
    )
    def get(self, request):
        query = StockQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        sku = query.validated_data["sku"]
        warehouses: dict[str, dict] = {}
        for balance in selectors.stock_positions([sku.pk]):
            entry = warehouses.setdefault(
                balance.warehouse.code,
                {
                    "warehouse": balance.warehouse.code,
                    "name": balance.warehouse.name,
                    "on_hand": 0,
                    "reserved": 0,
                    "qc_hold": 0,
                    "available": 0,
                    "pools": defaultdict(dict),
                },
            )
            available = max(0, balance.effective_available)
            for key, value in (
                ("on_hand", balance.on_hand),
                ("reserved", balance.reserved - balance.overdue),
                ("qc_hold", balance.qc_hold),
                ("available", available),
            ):
                entry[key] += value
                entry["pools"][balance.pool.code][key] = entry["pools"][balance.pool.code].get(key, 0) + value
            if balance.lot_id:
                entry.setdefault("lots", []).append(
                    {
                        "lot": balance.lot.code,
                        "expires_on": balance.lot.expires_on,
                        "pool": balance.pool.code,
                        "on_hand": balance.on_hand,
                        "available": available,
                    }
                )
        channels = dict(Channel.objects.filter(is_active=True).values_list("pk", "code"))
        sellable = selectors.channel_sellable([sku.pk], list(channels))
        return Response(
            {
                "sku": sku.code,
                "warehouses": [{**entry, "pools": dict(entry["pools"])} for entry in warehouses.values()],
                "channels": {channels[c]: per_sku[sku.pk] for c, per_sku in sellable.items()},
            }
        )


class MovementCreateView(APIView):
    """Receipts, adjustments, customer returns and write-offs; `idempotency_key` makes retries safe."""

    queryset = StockMovement.objects.none()
    permission_classes = [IsAuthenticated, RoleModelPermissions]

    @extend_schema(request=MovementInput, responses={201: MovementOutput, 200: MovementOutput})
    def post(self, request):
        data = MovementInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        key = values.get("idempotency_key")
        seen = key and StockMovement.objects.filter(idempotency_key=key).exists()
        movement = services.stock_change(
            kind=values["kind"],
            sku=values["sku"],
            warehouse=values["warehouse"],
            quantity=values["quantity"],
            pool=values.get("pool"),
            lot_code=values["lot"],
            expires_on=values.get("expires_on"),
            reference=values["reference"],
            note=values["note"],
            idempotency_key=key,
            actor=request.user,
        )
        body = MovementOutput(movement).data
        return Response(body, status=status.HTTP_200_OK if seen else status.HTTP_201_CREATED)
