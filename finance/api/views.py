from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from finance import selectors
from finance.api.serializers import PaymentInput, PaymentOutput
from finance.models import Payment
from finance.services import payment_record


class PaymentViewSet(mixins.CreateModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Payments received. Creating is idempotent on (provider, transaction_id): the same
    transaction again → 200 with the recorded payment; with another amount, currency or order → 409."""

    serializer_class = PaymentOutput
    queryset = Payment.objects.none()  # for the permission class (finance.add_payment / view_payment)

    def get_queryset(self):
        params = self.request.query_params
        payments = selectors.payment_list(provider=params.get("provider", ""))
        if params.get("order_number"):
            payments = payments.filter(order__number=params["order_number"])
        if params.get("transaction_id"):
            payments = payments.filter(transaction_id=params["transaction_id"])
        return payments

    @extend_schema(
        parameters=[
            OpenApiParameter("order_number", str),
            OpenApiParameter("transaction_id", str),
            OpenApiParameter("provider", str),
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=PaymentInput, responses={201: PaymentOutput, 200: PaymentOutput})
    def create(self, request, *args, **kwargs):
        data = PaymentInput(data=request.data)
        data.is_valid(raise_exception=True)
        raw = {key: request.data.get(key) for key in PaymentInput().fields if key in request.data}
        payment, created = payment_record(**data.validated_data, raw=raw, actor=request.user)
        payment = Payment.objects.select_related("order", "period").get(pk=payment.pk)
        return Response(
            PaymentOutput(payment).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )
