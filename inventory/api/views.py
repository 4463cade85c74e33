from collections import defaultdict
from datetime import timedelta

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.models import Channel
from core.api.parsers import JSONBodyParser
from core.api.permissions import RoleModelPermissions
from core.thread_serializers import per_thread_and_language
from inventory import locks, selectors, services
from inventory.api.serializers import (
    LockInput,
    LockOutput,
    LockReleaseInput,
    MovementInput,
    MovementOutput,
    StockOutput,
    StockQuery,
)
from inventory.models import PoolKind, Reservation, StockBalance, StockMovement


class StockView(APIView):
    """Stock of one SKU per warehouse (and per pool and lot), with each channel's sellable quantity."""

    queryset = StockBalance.objects.none()
    permission_classes = [RoleModelPermissions]

    @extend_schema(parameters=[OpenApiParameter("sku", str, required=True)], responses=StockOutput)
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
                    "in_transit": 0,
                    "pools": defaultdict(dict),
                },
            )
            available = max(0, balance.effective_available)
            in_transit = balance.pool.kind == PoolKind.IN_TRANSIT
            if in_transit:  # on its way here: shown on its own, in neither on_hand nor available
                entry["in_transit"] += balance.on_hand
            for key, value in (
                ("on_hand", balance.on_hand),
                ("reserved", balance.reserved - balance.overdue),
                ("qc_hold", balance.qc_hold),
                ("available", available),
            ):
                if not in_transit:
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

    @extend_schema(
        request=MovementInput,
        responses={
            201: MovementOutput,
            200: MovementOutput,
            409: OpenApiResponse(description=gettext_lazy("Not enough stock for a write-off or a decrease.")),
        },
    )
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


class LockCreateView(APIView):
    """Lock stock for a checkout before the order exists; the order names the fingerprint on its
    line to take the lock over. Concurrent requests share transactions (group commit)."""

    queryset = Reservation.objects.none()
    permission_classes = [IsAuthenticated, RoleModelPermissions]
    parser_classes = [JSONBodyParser]  # the lines are a list: JSON only

    @extend_schema(
        request=LockInput,
        responses={
            201: inline_serializer("StockLocks", {"locks": LockOutput(many=True)}),
            409: OpenApiResponse(description=gettext_lazy("Out of stock: `lines` names the SKUs short.")),
        },
    )
    def post(self, request):
        values = _lock_input().run_validation(request.data)  # a 400 with is_valid's body if refused
        quantities: dict[int, int] = defaultdict(int)
        for line in values["lines"]:
            quantities[line["sku"].pk] += line["quantity"]
        lock_request = locks.LockRequest(
            channel_id=values["channel"].pk, lines=sorted(quantities.items()), reference=values["reference"]
        )
        if "ttl_seconds" in values:
            lock_request.ttl = timedelta(seconds=values["ttl_seconds"])
        result = locks.stock_lock(lock_request)
        codes = {line["sku"].pk: line["sku"].code for line in values["lines"]}  # no read-back
        if result.short:
            return Response(
                {
                    "lines": [
                        _("Out of stock: %(skus)s") % {"skus": ", ".join(codes[s] for s in result.short)}
                    ]
                },
                status=status.HTTP_409_CONFLICT,
            )
        # answered from the committed batch's own rows, not read back
        body = [_lock_body(lock, codes[lock.sku_id]) for lock in result.locks]
        return Response({"locks": body}, status=status.HTTP_201_CREATED)


# This thread's LockInput for the request's language: a serializer deep-copies its declared fields
# on every instance, which was a tenth of a lock request's CPU; run_validation keeps no state.
_lock_input = per_thread_and_language(LockInput)


_EXPIRES_AT = LockOutput().fields["expires_at"]


def _lock_body(lock, sku_code: str) -> dict:
    """LockOutput's body for one lock, written out: the serializer's per-request set-up was a tenth
    of a lock request's CPU. A test holds the two equal."""
    return {
        "fingerprint": lock.fingerprint,
        "sku": sku_code,
        "quantity": lock.quantity,
        "expires_at": _EXPIRES_AT.to_representation(lock.expires_at),
        "reference": lock.reference,
    }


class LockReleaseView(APIView):
    """Give back checkout locks that will not become orders; each is named by its fingerprint."""

    queryset = Reservation.objects.none()
    permission_classes = [IsAuthenticated, RoleModelPermissions]
    parser_classes = [JSONBodyParser]  # the fingerprints are a list: JSON only

    @extend_schema(
        request=LockReleaseInput,
        responses={
            200: inline_serializer(
                "LockReleased",
                {"released": serializers.IntegerField(), "deferred": serializers.IntegerField()},
            )
        },
    )
    def post(self, request):
        data = LockReleaseInput(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = locks.stock_lock_release(actor=request.user, **data.validated_data)
        return Response({"released": outcome.released, "deferred": outcome.deferred})
