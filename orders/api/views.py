import json

from django.conf import settings
from django.http import Http404, HttpResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from core.api.parsers import JSONBodyParser
from core.thread_serializers import per_thread_and_language
from orders import intake, selectors, services
from orders.api import bulk, intake_writer
from orders.api.created_bodies import created_order_bodies
from orders.api.serializers import (
    BulkOrdersInput,
    BulkOrdersOutput,
    BulkProblemOutput,
    CancelInput,
    OrderDetailOutput,
    OrderSummaryOutput,
)
from orders.canonical import CanonicalOrderInput
from orders.filters import OrderFilter
from orders.models import Order


class OrderViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Orders of every channel. Creating is idempotent on (channel, external_id)."""

    lookup_field = "number"
    lookup_value_regex = "[^/]+"  # any number reaches the view and gets the API's own 404
    filterset_class = OrderFilter
    parser_classes = [JSONBodyParser]  # an order nests its lines and addresses: JSON only
    queryset = Order.objects.none()  # for the permission class and the schema

    def get_queryset(self):
        return selectors.order_list()

    def get_serializer_class(self):
        if self.action == "list":
            return OrderSummaryOutput
        return OrderDetailOutput

    def get_permissions(self):
        if self.action == "cancel":  # the cancel service checks orders.cancel_order itself
            return [IsAuthenticated()]
        return super().get_permissions()

    def get_object(self):
        """The order with its lines, reservations and events, in one round of queries."""
        try:
            order = selectors.order_detail(self.kwargs[self.lookup_field])
        except Order.DoesNotExist as exc:
            raise Http404 from exc
        self.check_object_permissions(self.request, order)
        return order

    @extend_schema(
        request=CanonicalOrderInput,
        responses={
            201: OrderDetailOutput,
            200: OrderDetailOutput,
            409: OpenApiResponse(description=_("The known order's state refuses the newer version.")),
        },
    )
    def create(self, request, *args, **kwargs):
        if settings.ORDER_INTAKE_WRITER_URL and isinstance(request.data, dict):
            answer = intake_writer.remote_order_submit(request.data, request.user)
            if answer is not None:
                code, body = answer
                if (
                    isinstance(request.accepted_renderer, JSONRenderer)
                    and "indent" not in request.accepted_media_type
                ):
                    # the writer rendered it with this renderer already
                    return HttpResponse(body, status=code, content_type=request.accepted_renderer.media_type)
                return Response(json.loads(body), status=code)
        data = bulk.validated_order(request.data)
        order, created = intake.order_submit(data=data, actor=request.user)
        if created:
            return Response(created_order_body(order), status=status.HTTP_201_CREATED)
        return Response(known_order_body(order), status=status.HTTP_200_OK)

    @extend_schema(
        request=BulkOrdersInput,
        responses={
            200: BulkOrdersOutput,
            413: OpenApiResponse(
                BulkProblemOutput, description=_("More than 1,000 orders: nothing was read or stored.")
            ),
            503: OpenApiResponse(
                BulkProblemOutput,
                description=_("The database failed the batch: nothing of it was stored; send it again."),
            ),
        },
    )
    @action(detail=False, methods=["post"], url_path="bulk")
    def bulk(self, request):
        """Up to 1,000 canonical orders: each validated on its own, the valid ones stored together
        (idempotent on (channel, external_id) as one POST each, in the order given); a result per
        order, in the same order."""
        try:
            results = bulk.orders_bulk_submit(payloads=bulk.bulk_payloads(request.data), actor=request.user)
        except bulk.BulkTooLarge as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        except bulk.BulkNotStored:
            message = gettext("The database failed the batch and nothing of it was stored. Send it again.")
            return Response({"detail": message}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        counts = dict.fromkeys(bulk.STATUSES, 0)
        for result in results:
            counts[result.status] += 1
        return Response({"results": [result.as_dict() for result in results], **counts})

    @extend_schema(
        request=CancelInput,
        responses={
            200: OrderDetailOutput,
            409: OpenApiResponse(description=_("The order can no longer be cancelled (as asked).")),
        },
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, number=None):
        order = self.get_object()
        data = CancelInput(data=request.data)
        data.is_valid(raise_exception=True)
        lines = data.validated_data.get("lines")
        sku_quantities = None
        if lines is not None:
            sku_quantities = {}
            for line in lines:
                sku_quantities[line["sku"]] = sku_quantities.get(line["sku"], 0) + line["quantity"]
        services.order_cancel(
            order=order,
            actor=request.user,
            reason=data.validated_data["reason"],
            sku_quantities=sku_quantities,
        )
        return Response(OrderDetailOutput(selectors.order_detail(order.number)).data)


def created_order_body(order: Order) -> dict:
    """A created order as its transaction committed it: only what hangs off the row is read
    (orders.api.created_bodies)."""
    return created_order_bodies([order])[order.pk]


def known_order_body(order: Order) -> dict:
    """A known order read again: a newer version may have changed its lines, holds, parcels."""
    return _detail_output().to_representation(selectors.order_detail(order.number))


# This thread's instance of the detail serializer for the request's language (a ModelSerializer
# builds its fields from the model on every instance; to_representation keeps no state).
_detail_output = per_thread_and_language(OrderDetailOutput)
