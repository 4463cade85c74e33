"""The money an RMA gives back: one refund row per RMA, who pays it and how far it got.
returns.refunds computes, books and sends it."""

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.money import CurrencyField, MoneyField
from returns.models.rma import ReturnRequest


class RefundProvider(models.TextChoices):
    STRIPE = "stripe", "Stripe"
    ALIPAY = "alipay", _("Alipay")
    WECHAT_PAY = "wechat_pay", _("WeChat Pay")
    SHOPIFY = "shopify", "Shopify"
    MANUAL = "manual", _("Paid out by finance")
    # Refunded by the sales platform itself (JD, Pinduoduo, Douyin after-sales): nothing to send.
    PLATFORM = "platform", _("Refunded by the sales platform")


class RefundState(models.TextChoices):
    PENDING = "pending", _("Waiting for the provider")
    SENT = "sent", _("Accepted by the provider")
    SUCCEEDED = "succeeded", _("Paid out")
    FAILED = "failed", _("Failed")
    MANUAL = "manual", _("To be paid out by finance")


class ReturnRefund(models.Model):
    """The money an RMA gives back: at most one per RMA (the unique RMA is the idempotency)."""

    rma = models.OneToOneField(ReturnRequest, on_delete=models.PROTECT, related_name="refund")
    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="return_refunds")
    amount = MoneyField(_("amount"))
    goods_amount = MoneyField(_("goods"))
    shipping_amount = MoneyField(_("shipping"))
    restocking_fee = MoneyField(_("restocking fee"))
    currency = CurrencyField()
    provider = models.CharField(_("provider"), max_length=12, choices=RefundProvider.choices)
    payment = models.ForeignKey(
        "finance.Payment", on_delete=models.PROTECT, null=True, blank=True, related_name="return_refunds"
    )
    state = models.CharField(
        _("state"), max_length=12, choices=RefundState.choices, default=RefundState.PENDING
    )
    provider_reference = models.CharField(_("provider reference"), max_length=128, blank=True)
    error = models.TextField(_("error"), blank=True)
    # How the amount was worked out, line by line (shown on the RMA).
    detail = models.JSONField(_("calculation"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="return_refund_amount_positive")
        ]

    def __str__(self):
        return f"{self.rma_id} {self.amount} {self.currency} ({self.state})"
