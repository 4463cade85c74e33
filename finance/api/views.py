from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from finance import selectors
from finance.api.serializers import PaymentInput, PaymentOutput
from finance.filters import PaymentFilter
from finance.models import Payment
from finance.services import payment_record


class PaymentViewSet(mixins.CreateModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Payments received. Creating is idempotent on (provider, transaction_id): the same
    transaction again → 200 with the recorded payment; with another amount, currency or order → 409."""

    serializer_class = PaymentOutput
    queryset = Payment.objects.none()  # for the permission class (finance.add_payment / view_payment)
    filterset_class = PaymentFilter

    def get_queryset(self):
        return selectors.payment_list()

    @extend_schema(
        request=PaymentInput,
        responses={
            201: PaymentOutput,
            200: PaymentOutput,
            409: OpenApiResponse(description=_("This transaction was recorded with other facts.")),
        },
    )
    def create(self, request, *args, **kwargs):
        data = PaymentInput(data=request.data)
        data.is_valid(raise_exception=True)
        raw = {key: request.data.get(key) for key in PaymentInput().fields if key in request.data}
        payment, created = payment_record(**data.validated_data, raw=raw, actor=request.user)
        payment = Payment.objects.select_related("order", "period").get(pk=payment.pk)
        return Response(
            PaymentOutput(payment).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )
