"""What may come back: the return policy per channel (window, approval, refund percentages) and
the items that can never be returned. returns.policy judges requests against them."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.models import TimeStampedModel


def default_window_days() -> int:
    return settings.RETURN_WINDOW_DAYS


class ReturnPolicy(TimeStampedModel):
    """How returns are judged for a channel (an empty channel is the default for every other)."""

    channel = models.OneToOneField(
        "integrations.Channel",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="return_policy",
        verbose_name=_("channel"),
        help_text=_("Empty means every channel without a policy of its own."),
    )
    window_days = models.PositiveSmallIntegerField(
        _("return window (days)"),
        default=default_window_days,
        help_text=_("Calendar days after delivery, counted in the channel's time zone."),
    )
    auto_approve = models.BooleanField(_("approve requests within the policy at once"), default=True)
    manual_approval = models.BooleanField(
        _("manual approval instead of refusal"),
        default=False,
        help_text=_("Requests outside the window or for excluded items wait for an agent instead."),
    )
    damaged_refund_percent = models.PositiveSmallIntegerField(
        _("refund for damaged goods (%)"),
        default=50,
        validators=[MaxValueValidator(100)],
        help_text=_(
            "Share of the price refunded when goods come back damaged and the seller was not at fault."
        ),
    )
    restocking_fee_percent = models.PositiveSmallIntegerField(
        _("restocking fee (%)"),
        default=0,
        validators=[MaxValueValidator(100)],
        help_text=_("Kept from no-reason returns."),
    )
    refund_shipping_on_seller_fault = models.BooleanField(
        _("refund shipping when the seller is at fault"), default=True
    )

    class Meta:
        ordering = ["channel__code"]
        verbose_name = _("return policy")
        verbose_name_plural = _("return policies")
        constraints = [
            models.CheckConstraint(
                condition=Q(damaged_refund_percent__lte=100, restocking_fee_percent__lte=100),
                name="return_policy_percent_range",
            )
        ]

    def __str__(self):
        return str(self.channel) if self.channel_id else str(_("Default return policy"))


class ReturnExclusion(TimeStampedModel):
    """Items that cannot be returned: one SKU, or every SKU whose code starts with a prefix (a
    category such as underwear or opened food)."""

    sku = models.ForeignKey(
        "inventory.SKU",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="return_exclusions",
        verbose_name=_("SKU"),
    )
    sku_prefix = models.CharField(
        _("SKU code prefix"), max_length=64, blank=True, help_text=_("Every SKU whose code starts with this.")
    )
    channel = models.ForeignKey(
        "integrations.Channel",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="return_exclusions",
        verbose_name=_("channel"),
        help_text=_("Empty means every channel."),
    )
    reason = models.CharField(_("reason shown to the customer"), max_length=200)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["sku_prefix", "pk"]
        verbose_name = _("return exclusion")
        verbose_name_plural = _("return exclusions")
        constraints = [
            models.CheckConstraint(
                condition=Q(sku__isnull=False) | ~Q(sku_prefix=""), name="return_exclusion_names_items"
            )
        ]

    def __str__(self):
        return self.sku.code if self.sku_id else f"{self.sku_prefix}*"

    def clean(self):
        if not self.sku_id and not self.sku_prefix.strip():
            raise ValidationError({"sku": _("Name a SKU or a SKU code prefix.")})
