"""The return authorisation (RMA) bound to an order, its states, and its lines with what
inspection found. Transitions here only assign fields: returns.transitions runs them."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, transition

from core.models import ConcurrentTransitions, TimeStampedModel


class ReturnStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    AWAITING_RETURN = "awaiting_return", _("Awaiting return")
    RECEIVED = "received", _("Received")
    INSPECTED = "inspected", _("Inspected")
    # Money is owed and on its way (the provider, or finance paying out by hand): not yet refunded.
    REFUNDING = "refunding", _("Refund in progress")
    REFUNDED = "refunded", _("Refunded")
    EXCHANGED = "exchanged", _("Exchanged")
    CLOSED = "closed", _("Closed")
    CANCELLED = "cancelled", _("Cancelled")


R = ReturnStatus
# Requests that no longer claim any quantity of the order's lines.
VOID = (R.REJECTED, R.CANCELLED)
# States in which the goods may still arrive at a warehouse.
RECEIVABLE = [R.APPROVED, R.AWAITING_RETURN]
OPEN = [R.REQUESTED, R.APPROVED, R.AWAITING_RETURN, R.RECEIVED, R.INSPECTED, R.REFUNDING]


class ReturnReason(models.TextChoices):
    NO_REASON = "no_reason", _("No reason (changed mind)")
    DAMAGED = "damaged", _("Arrived damaged")
    WRONG_ITEM = "wrong_item", _("Wrong item sent")
    NOT_AS_DESCRIBED = "not_as_described", _("Not as described")
    OTHER = "other", _("Other")


# The seller is at fault: shipping is refunded and damaged goods are refunded in full.
SELLER_AT_FAULT = (ReturnReason.DAMAGED, ReturnReason.WRONG_ITEM, ReturnReason.NOT_AS_DESCRIBED)


class ReturnKind(models.TextChoices):
    RETURN = "return", _("Return for a refund")
    EXCHANGE = "exchange", _("Exchange")
    # Money back with no goods coming back (a platform's "refund only" after-sales request).
    REFUND_ONLY = "refund_only", _("Refund only")


class ReturnSource(models.TextChoices):
    DESK = "desk", _("Agent")
    SELF_SERVICE = "self_service", _("Customer (self-service link)")
    PLATFORM = "platform", _("Sales platform")


class ReturnRequest(ConcurrentTransitions, TimeStampedModel):
    """One return authorisation (RMA). Its status is protected: services run the transitions."""

    number = models.CharField(_("RMA number"), max_length=24, unique=True)
    order = models.ForeignKey(
        "orders.Order", on_delete=models.PROTECT, related_name="return_requests", verbose_name=_("order")
    )
    status = FSMField(_("status"), default=R.REQUESTED, choices=R.choices, protected=True, db_index=True)
    kind = models.CharField(_("kind"), max_length=12, choices=ReturnKind.choices, default=ReturnKind.RETURN)
    reason = models.CharField(_("reason"), max_length=20, choices=ReturnReason.choices)
    source = models.CharField(_("source"), max_length=12, choices=ReturnSource.choices)
    description = models.TextField(_("description"), blank=True)
    contact_name = models.CharField(_("contact name"), max_length=120, blank=True)
    contact_phone = models.CharField(_("contact phone"), max_length=32, blank=True)
    contact_email = models.EmailField(_("contact e-mail"), blank=True)
    # Why the request needed an agent's approval (outside the window, excluded item…).
    policy_notes = models.JSONField(_("policy notes"), default=list, blank=True)
    decision_reason = models.CharField(_("decision reason"), max_length=255, blank=True)
    # The platform's after-sales id ("shopify:<refund id>") for requests that came from it.
    external_ref = models.CharField(_("platform reference"), max_length=100, blank=True)
    # The platform's state and update time of that after-sale as last applied
    # (returns.platform_after_sales): an older version read later changes nothing.
    external_state = models.CharField(_("platform state"), max_length=20, blank=True)
    external_updated_at = models.DateTimeField(_("platform update time"), null=True, blank=True)

    return_carrier = models.ForeignKey(
        "orders.Carrier",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("return carrier"),
    )
    return_tracking_number = models.CharField(
        _("return tracking number"), max_length=64, blank=True, db_index=True
    )
    warehouse = models.ForeignKey(
        "inventory.Warehouse",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="return_requests",
        verbose_name=_("receiving warehouse"),
    )
    exchange_order = models.OneToOneField(
        "orders.Order",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="exchange_for",
        verbose_name=_("exchange order"),
    )
    exchange_note = models.CharField(_("exchange note"), max_length=255, blank=True)

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    received_at = models.DateTimeField(_("received at"), null=True, blank=True)
    inspected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    inspected_at = models.DateTimeField(_("inspected at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("return request (RMA)")
        verbose_name_plural = _("return requests (RMAs)")
        constraints = [
            # A platform's after-sales request is one RMA, however often it is delivered.
            models.UniqueConstraint(
                fields=["order", "external_ref"],
                condition=~Q(external_ref=""),
                name="rma_unique_platform_ref",
            )
        ]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="rma_status_created_idx"),
            models.Index(fields=["-created_at"], name="rma_created_idx"),
        ]
        permissions = [
            ("approve_returnrequest", _("Can approve, reject and cancel return requests")),
            ("receive_returnrequest", _("Can receive, inspect and re-check returned goods")),
            ("close_returnrequest", _("Can close return requests")),
            ("view_return_metrics", _("Can see return metrics")),
        ]

    def __str__(self):
        return self.number

    @property
    def transition_subject(self) -> str:
        """How core.transitions names the RMA in its messages (the number reads "RMA…")."""
        return self.number

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("returns:detail", args=[self.number])

    @property
    def is_seller_at_fault(self) -> bool:
        return self.reason in SELLER_AT_FAULT

    # --- transitions: they only assign fields; returns.transitions runs them --------------

    @transition(
        field=status, source=R.REQUESTED, target=R.APPROVED, permission="returns.approve_returnrequest"
    )
    def approve(self, *, by=None):
        self.approved_by = by
        self.approved_at = timezone.now()

    @transition(
        field=status, source=R.REQUESTED, target=R.REJECTED, permission="returns.approve_returnrequest"
    )
    def reject(self, *, reason: str):
        self.decision_reason = reason

    @transition(
        field=status,
        source=RECEIVABLE,
        target=R.AWAITING_RETURN,
        permission="returns.change_returnrequest",
        conditions=[lambda rma: rma.kind != ReturnKind.REFUND_ONLY],
    )
    def await_return(self, *, carrier=None, tracking_number: str):
        self.return_carrier = carrier
        self.return_tracking_number = tracking_number

    @transition(
        field=status,
        source=RECEIVABLE,
        target=R.RECEIVED,
        permission="returns.receive_returnrequest",
        conditions=[lambda rma: rma.kind != ReturnKind.REFUND_ONLY],
    )
    def receive(self, *, warehouse, by=None):
        self.warehouse = warehouse
        self.received_by = by
        self.received_at = timezone.now()

    @transition(
        field=status, source=R.RECEIVED, target=R.INSPECTED, permission="returns.receive_returnrequest"
    )
    def inspect(self, *, by=None):
        self.inspected_by = by
        self.inspected_at = timezone.now()

    # Run by the system after inspection: a refund is owed and was requested; the RMA says
    # "Refunded" only once the money went out (mark_refunded).
    @transition(field=status, source=R.INSPECTED, target=R.REFUNDING)
    def start_refund(self):
        pass

    # Run by the system when the refund is paid out (the provider said so, finance confirmed a
    # manual payout, or the platform refunded: at once for its refund-only request).
    @transition(
        field=status,
        source=[R.REFUNDING, R.INSPECTED, R.APPROVED],
        target=R.REFUNDED,
        conditions=[lambda rma: rma.status != R.APPROVED or rma.kind == ReturnKind.REFUND_ONLY],
    )
    def mark_refunded(self):
        pass

    @transition(
        field=status,
        source=R.INSPECTED,
        target=R.EXCHANGED,
        conditions=[lambda rma: rma.kind == ReturnKind.EXCHANGE],
    )
    def mark_exchanged(self):
        pass

    @transition(
        field=status,
        source=[R.INSPECTED, R.REFUNDED, R.EXCHANGED],
        target=R.CLOSED,
        permission="returns.close_returnrequest",
    )
    def close(self):
        self.closed_at = timezone.now()

    @transition(
        field=status,
        source=[R.REQUESTED, R.APPROVED, R.AWAITING_RETURN],
        target=R.CANCELLED,
        permission="returns.approve_returnrequest",
    )
    def cancel(self, *, reason: str):
        self.decision_reason = reason


class ReturnLine(models.Model):
    """Units of one order line coming back, and what inspection found them to be."""

    rma = models.ForeignKey(ReturnRequest, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(
        "orders.OrderLine",
        on_delete=models.PROTECT,
        related_name="return_lines",
        verbose_name=_("order line"),
    )
    sku = models.ForeignKey(
        "inventory.SKU", on_delete=models.PROTECT, related_name="+", verbose_name=_("SKU")
    )
    quantity = models.PositiveIntegerField(_("quantity"))
    replacement_sku = models.ForeignKey(
        "inventory.SKU",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("replacement SKU"),
    )
    intact_quantity = models.PositiveIntegerField(_("intact"), default=0)
    damaged_quantity = models.PositiveIntegerField(_("damaged"), default=0)
    wrong_item_quantity = models.PositiveIntegerField(_("wrong item"), default=0)
    inspection_note = models.CharField(_("inspection note"), max_length=255, blank=True)
    # Intact units wait in QC hold for a re-check (fast path: QC_RECHECK_HOURS).
    recheck_due_at = models.DateTimeField(_("re-check due at"), null=True, blank=True, db_index=True)
    rechecked_at = models.DateTimeField(_("re-checked at"), null=True, blank=True)
    recheck_passed = models.BooleanField(_("re-check passed"), null=True, blank=True)
    rechecked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["rma", "order_line__line_no"]
        verbose_name = _("return line")
        verbose_name_plural = _("return lines")
        constraints = [
            models.UniqueConstraint(fields=["rma", "order_line"], name="return_line_unique_order_line"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="return_line_quantity_positive"),
            models.CheckConstraint(
                condition=Q(
                    quantity__gte=F("intact_quantity") + F("damaged_quantity") + F("wrong_item_quantity")
                ),
                name="return_line_graded_within_quantity",
            ),
        ]

    def __str__(self):
        return f"{self.rma_id} {self.quantity}×{self.sku_id}"

    @property
    def awaits_recheck(self) -> bool:
        return self.intact_quantity > 0 and self.recheck_due_at is not None and self.rechecked_at is None
