import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Right
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import RETURN_VALUE, FSMField, transition
from timezone_field import TimeZoneField

from core.models import ConcurrentTransitions, TimeStampedModel
from core.money import CurrencyField, Money, MoneyField
from orders import phones


class Customer(TimeStampedModel):
    # "phone:…", "email:…" or "channel:<code>:<buyer id>": the unique key is the deduplication.
    identity_key = models.CharField(_("identity key"), max_length=200, unique=True)
    name = models.CharField(_("name"), max_length=120, blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True, db_index=True)
    email = models.EmailField(_("email"), blank=True, db_index=True)
    is_vip = models.BooleanField(_("VIP"), default=False)
    order_count = models.PositiveIntegerField(_("orders"), default=0)
    last_order_at = models.DateTimeField(_("last order at"), null=True, blank=True)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")

    def __str__(self):
        return self.name or self.phone or self.email or self.identity_key


class OrderStatus(models.TextChoices):
    PENDING_PAYMENT = "pending_payment", _("Pending payment")
    PAID = "paid", _("Paid")
    ALLOCATED = "allocated", _("Allocated")
    PARTIALLY_SHIPPED = "partially_shipped", _("Partially shipped")
    SHIPPED = "shipped", _("Shipped")
    DELIVERED = "delivered", _("Delivered")
    COMPLETED = "completed", _("Completed")
    ON_HOLD = "on_hold", _("On hold")
    CANCELLED = "cancelled", _("Cancelled")


S = OrderStatus
# States an order can be held from (and released back to), cancelled from, or edited in.
HOLDABLE = [S.PENDING_PAYMENT, S.PAID, S.ALLOCATED]
CANCELLABLE = [*HOLDABLE, S.ON_HOLD]
EDITABLE = CANCELLABLE


class Priority(models.TextChoices):
    NORMAL = "normal", _("Normal")
    VIP = "vip", _("VIP")
    EXPEDITE = "expedite", _("Expedite")


class Order(ConcurrentTransitions, TimeStampedModel):
    number = models.CharField(_("order number"), max_length=24, unique=True)
    # No index of its own: (channel, external_id) and (channel, placed_at) lead with it.
    channel = models.ForeignKey(
        "integrations.Channel",
        on_delete=models.PROTECT,
        related_name="orders",
        verbose_name=_("channel"),
        db_index=False,
    )
    external_id = models.CharField(_("external id"), max_length=64)
    # Indexed by (status, placed_at) in Meta: a lookup by status alone uses its prefix.
    status = FSMField(_("status"), default=S.PENDING_PAYMENT, choices=S.choices, protected=True)
    held_from = models.CharField(_("held from"), max_length=20, choices=S.choices, blank=True)
    hold_reason = models.CharField(_("hold reason"), max_length=255, blank=True)
    cancel_reason = models.CharField(_("cancel reason"), max_length=255, blank=True)
    priority = models.CharField(
        _("priority"), max_length=10, choices=Priority.choices, default=Priority.NORMAL
    )
    tags = models.JSONField(_("tags"), default=list, blank=True)

    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, null=True, blank=True, related_name="orders"
    )
    customer_name = models.CharField(_("customer name"), max_length=120, blank=True)
    customer_phone = models.CharField(_("customer phone"), max_length=32, blank=True)  # indexed in Meta
    customer_email = models.EmailField(_("customer email"), blank=True)  # indexed in Meta (search)
    buyer_ip = models.GenericIPAddressField(_("buyer IP"), null=True, blank=True)
    buyer_note = models.TextField(_("buyer note"), blank=True)

    # False when the platform says nothing ships (store pickup, digital goods): no address is
    # needed and the order is never routed; it stays paid until the platform completes it.
    requires_shipping = models.BooleanField(_("requires shipping"), default=True, db_default=True)
    ship_name = models.CharField(_("recipient"), max_length=120, blank=True)
    ship_phone = models.CharField(_("recipient phone"), max_length=32, blank=True)  # indexed in Meta
    ship_country = models.CharField(_("country"), max_length=2)
    ship_province = models.CharField(_("province"), max_length=60, blank=True)
    ship_city = models.CharField(_("city"), max_length=60)
    ship_district = models.CharField(_("district"), max_length=60, blank=True)
    ship_line1 = models.CharField(_("address line 1"), max_length=255)
    ship_line2 = models.CharField(_("address line 2"), max_length=255, blank=True)
    ship_postcode = models.CharField(_("postcode"), max_length=20, blank=True)
    # Receiver data the platform protects (JD, Pinduoduo, Douyin, Xiaohongshu): the ship_* fields
    # hold its masked text; this keeps what it gave besides, per field ("name", "phone",
    # "address"): {"masked", "cipher", "index"} and platform extras (e.g. JD's oaid). Plain text
    # comes only from the platform's decrypt API when needed (integrations.protected_data), audited.
    receiver_protected = models.JSONField(_("protected receiver data"), default=dict, blank=True)
    # Where the platform gives them; otherwise routing estimates from the province and city.
    ship_latitude = models.DecimalField(_("latitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    ship_longitude = models.DecimalField(
        _("longitude"), max_digits=9, decimal_places=6, null=True, blank=True
    )

    # Amounts are in `currency`, as the platform states them (orders.amounts):
    #   total = goods + adjustments − line discounts − order discount
    #           + shipping − shipping discount + tax (when prices do not include it)
    # Discounts and adjustments are also kept per line (OrderLine); `paid_amount` is what the
    # platform says the buyer paid, checked against `total` at intake.
    currency = CurrencyField()
    goods_amount = MoneyField(_("goods"))
    adjustment_amount = MoneyField(
        _("seller adjustments"), help_text=_("Price changes by the seller; negative lowers the price.")
    )
    line_discount_amount = MoneyField(_("line discounts"))
    discount = MoneyField(_("order discount"))
    platform_discount_amount = MoneyField(
        _("platform-funded discounts"), help_text=_("The part of the discounts the platform pays for.")
    )
    shipping_fee = MoneyField(_("shipping fee"))
    shipping_discount = MoneyField(_("shipping discount"))
    tax_amount = MoneyField(_("tax"), help_text=_("Tax on goods and shipping."))
    shipping_tax = MoneyField(_("shipping tax"))
    tax_included = models.BooleanField(_("prices include tax"), default=False, db_default=False)
    platform_commission = MoneyField(_("platform commission"))
    total = MoneyField(_("total"))
    paid_amount = MoneyField(
        _("paid on the platform"),
        null=True,
        blank=True,
        default=None,
        help_text=_("What the platform says the buyer paid; empty when it does not say."),
    )

    placed_at = models.DateTimeField(_("placed at"))
    channel_time_zone = TimeZoneField(_("channel time zone"))
    platform_updated_at = models.DateTimeField(_("platform updated at"), null=True, blank=True)
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "external_id"], name="order_unique_channel_external_id"
            )
        ]
        # Only what a query uses (issue #18 audit; every index costs each ingested order): the
        # phones are matched by equality only (desk search, review rules, blacklist), so no
        # LIKE (varchar_pattern_ops) twin; status and channel lead composite indexes below.
        indexes = [
            models.Index(fields=["customer_phone"], name="order_customer_phone_idx"),
            models.Index(fields=["ship_phone"], name="order_ship_phone_idx"),
            # "尾号": agents find an order by the last four digits of the recipient's phone, which
            # masked platform numbers (138****0001) keep too.
            models.Index(Right("ship_phone", 4), name="order_ship_phone_last4_idx"),
            models.Index(fields=["external_id"], name="order_external_id_idx"),
            models.Index(fields=["customer_email"], name="order_customer_email_idx"),
            models.Index(fields=["-placed_at"], name="order_placed_at_idx"),
            models.Index(fields=["status", "-placed_at"], name="order_status_placed_idx"),
            models.Index(fields=["channel", "-placed_at"], name="order_channel_placed_idx"),
        ]
        permissions = [
            ("hold_order", _("Can hold and release orders")),
            ("cancel_order", _("Can cancel orders and order lines")),
            ("change_order_address", _("Can change an order's shipping address")),
            ("change_order_priority", _("Can change an order's priority")),
            ("add_order_note", _("Can add notes to orders")),
            ("mark_order_paid", _("Can record an order as paid")),
            ("fulfil_order", _("Can move orders through fulfilment")),
            ("complete_order", _("Can complete delivered orders")),
            ("edit_order_lines", _("Can edit order lines during review")),
            ("change_order_price", _("Can change order line prices")),
            ("decrypt_receiver", _("Can have protected receiver data decrypted by the platform")),
        ]

    def __str__(self):
        return self.number

    @property
    def transition_subject(self) -> str:
        """How core.transitions names the order in its messages."""
        return _("Order %(number)s") % {"number": self.number}

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("orders:detail", args=[self.number])

    def money(self, field: str) -> Money:
        return Money(getattr(self, field), self.currency)

    # --- transitions: they only assign fields; orders.services runs them -------------------

    @transition(
        field=status,
        source=[S.PENDING_PAYMENT, S.ON_HOLD],
        target=RETURN_VALUE(S.PAID, S.ON_HOLD),
        conditions=[lambda order: order.status != S.ON_HOLD or order.held_from == S.PENDING_PAYMENT],
        permission="orders.mark_order_paid",
    )
    def mark_paid(self, *, paid_at):
        self.paid_at = paid_at
        if self.status == S.ON_HOLD:  # paid while held: release will return it to "paid"
            self.held_from = S.PAID
            return S.ON_HOLD
        return S.PAID

    @transition(field=status, source=S.PAID, target=S.ALLOCATED, permission="orders.route_order")
    def allocate(self):
        pass

    @transition(
        field=status, source=S.ALLOCATED, target=S.PARTIALLY_SHIPPED, permission="orders.fulfil_order"
    )
    def mark_partially_shipped(self):
        pass

    @transition(
        field=status,
        source=[S.ALLOCATED, S.PARTIALLY_SHIPPED],
        target=S.SHIPPED,
        permission="orders.fulfil_order",
    )
    def mark_shipped(self):
        pass

    @transition(field=status, source=S.SHIPPED, target=S.DELIVERED, permission="orders.fulfil_order")
    def mark_delivered(self, *, delivered_at):
        self.delivered_at = delivered_at

    @transition(field=status, source=S.DELIVERED, target=S.COMPLETED, permission="orders.complete_order")
    def complete(self):
        pass

    @transition(field=status, source=HOLDABLE, target=S.ON_HOLD, permission="orders.hold_order")
    def hold(self, *, reason):
        self.held_from = self.status
        self.hold_reason = reason

    @transition(
        field=status,
        source=S.ON_HOLD,
        target=RETURN_VALUE(*HOLDABLE),
        permission="orders.hold_order",
    )
    def release(self):
        target, self.held_from, self.hold_reason = self.held_from, "", ""
        return target

    @transition(field=status, source=CANCELLABLE, target=S.CANCELLED, permission="orders.cancel_order")
    def cancel(self, *, reason):
        self.cancel_reason = reason
        self.cancelled_at = timezone.now()


class LineKind(models.TextChoices):
    GOODS = "goods", _("Goods")
    # Sold as a bundle (组合装): the line keeps the money as sold; its component lines (parent_line)
    # are what is reserved, picked, shipped and returned.
    BUNDLE = "bundle", _("Bundle")
    COMPONENT = "component", _("Bundle component")
    GIFT = "gift", _("Gift")


class OrderLine(models.Model):
    """One line as sold. Money per line (orders.amounts):
    net = unit price × quantity + adjustment − discount − order discount share
    paid = net + tax when prices exclude it (else net); `paid_amount` is what the platform
    states when it states it, otherwise that figure."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    line_no = models.PositiveSmallIntegerField(_("line"))
    kind = models.CharField(
        _("kind"), max_length=10, choices=LineKind.choices, default=LineKind.GOODS, db_default=LineKind.GOODS
    )
    parent_line = models.ForeignKey(
        "self",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="components",
        verbose_name=_("bundle line"),
    )
    # Empty while the platform item is not mapped to a SKU: the order waits on hold (inventory
    # item mappings) and nothing of the line is reserved.
    sku = models.ForeignKey(
        "inventory.SKU",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="order_lines",
        verbose_name=_("SKU"),
    )
    # The item as the platform named it: used to map it to a SKU and to write back to the platform.
    platform_line_id = models.CharField(
        _("platform line id"),
        max_length=64,
        blank=True,
        help_text=_("The platform's own id of this line (Shopify line item, Taobao sub-order oid)."),
    )
    platform_item_id = models.CharField(_("platform item id"), max_length=64, blank=True)
    platform_sku_id = models.CharField(_("platform SKU id"), max_length=64, blank=True)
    seller_code = models.CharField(_("seller code"), max_length=64, blank=True)
    title = models.CharField(_("title"), max_length=255, blank=True)
    quantity = models.PositiveIntegerField(_("quantity"))
    cancelled_quantity = models.PositiveIntegerField(_("cancelled quantity"), default=0)
    unit_price = MoneyField(_("unit price"))
    discount = MoneyField(_("line discount"))
    # Each discount as the platform allocated it: [{"amount", "funded_by", "title"}, …]
    discount_allocations = models.JSONField(_("discount allocations"), default=list, blank=True)
    platform_discount = MoneyField(_("platform-funded discount"))
    adjustment = MoneyField(_("seller adjustment"))
    order_discount_share = MoneyField(_("share of the order discount"))
    tax_amount = MoneyField(_("tax"))
    tax_rate = models.DecimalField(_("tax rate"), max_digits=7, decimal_places=4, null=True, blank=True)
    paid_amount = MoneyField(_("paid"))
    presale = models.BooleanField(_("pre-sale"), default=False)
    # The rule that added this gift at intake (orders.gifts); empty for lines as sold.
    gift_rule = models.ForeignKey(
        "orders.GiftRule",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="lines",
        verbose_name=_("gift rule"),
    )

    class Meta:
        ordering = ["order", "line_no"]
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        constraints = [
            models.UniqueConstraint(fields=["order", "line_no"], name="order_line_unique_no"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="order_line_quantity_positive"),
            models.CheckConstraint(
                condition=Q(cancelled_quantity__lte=F("quantity")),
                name="order_line_cancelled_within_quantity",
            ),
        ]

    def __str__(self):
        return f"{self.order_id}#{self.line_no} {self.quantity}×{self.sku_id}"

    @property
    def live_quantity(self) -> int:
        return self.quantity - self.cancelled_quantity

    @property
    def net_amount(self):
        """The line's goods after adjustments and every discount, before tax added on top."""
        return self.unit_price * self.quantity + self.adjustment - self.discount - self.order_discount_share

    @property
    def is_sold(self) -> bool:
        """A line as sold (goods, bundle or gift). A bundle's component lines are not: their paid
        amounts are the bundle line's paid amount split over them (orders.bundles), so sums of
        the order's money over its lines leave them out."""
        return self.kind != LineKind.COMPONENT

    @property
    def is_stocked(self) -> bool:
        """Whether the line itself is reserved, picked and shipped (a bundle line is not: its
        components are; an unmapped line is not until it is mapped)."""
        return self.sku_id is not None and self.kind != LineKind.BUNDLE


class OrderEventKind(models.TextChoices):
    CREATED = "created", _("Created")
    PLATFORM_UPDATE = "platform_update", _("Updated by the platform")
    TRANSITION = "transition", _("Status changed")
    LINES_CANCELLED = "lines_cancelled", _("Lines cancelled")
    ADDRESS_CHANGED = "address_changed", _("Address changed")
    PRIORITY_CHANGED = "priority_changed", _("Priority changed")
    NOTE = "note", _("Note")
    ROUTED = "routed", _("Routed")
    SHIPMENT = "shipment", _("Shipment")
    TRACKING = "tracking", _("Tracking")
    NOTIFICATION = "notification", _("Notification")
    EDITED = "edited", _("Lines edited")
    ITEM_MAPPED = "item_mapped", _("Item mapped")
    GIFT = "gift", _("Gift")


class ImmutableRowError(Exception):
    pass


class OrderEvent(models.Model):
    """One immutable row of the order timeline: who did what, when, from which state to which."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(_("kind"), max_length=20, choices=OrderEventKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    from_status = models.CharField(_("from"), max_length=20, choices=S.choices, blank=True)
    to_status = models.CharField(_("to"), max_length=20, choices=S.choices, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    payload = models.JSONField(_("payload"), default=dict, blank=True)
    created_at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("order event")
        verbose_name_plural = _("order events")
        indexes = [models.Index(fields=["order", "created_at"], name="order_event_timeline_idx")]

    def __str__(self):
        return f"{self.order_id} {self.kind} {self.from_status}→{self.to_status}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ImmutableRowError("order events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableRowError("order events are append-only")

    @property
    def actor_label(self) -> str:
        return self.actor.get_username() if self.actor_id else _("system")


TRANSITION_LABELS = {
    "mark_paid": _("Mark paid"),
    "allocate": _("Route now"),
    "mark_partially_shipped": _("Mark partially shipped"),
    "mark_shipped": _("Mark shipped"),
    "mark_delivered": _("Mark delivered"),
    "complete": _("Complete"),
    "hold": _("Hold"),
    "release": _("Release"),
    "cancel": _("Cancel order"),
}
# Actions whose form must carry a reason.
TRANSITIONS_NEEDING_REASON = {"hold", "cancel"}
# What the desk says once an action is done: each names what happened, not just "updated".
TRANSITION_DONE = {
    "mark_paid": _("Order %(number)s marked paid."),
    "allocate": _("Order %(number)s routed."),
    "mark_partially_shipped": _("Order %(number)s marked partially shipped."),
    "mark_shipped": _("Order %(number)s marked shipped."),
    "mark_delivered": _("Order %(number)s marked delivered."),
    "complete": _("Order %(number)s completed."),
    "hold": _("Order %(number)s put on hold: it will not be routed or shipped until released."),
    "release": _("Order %(number)s released from hold."),
    "cancel": _("Order %(number)s cancelled: its reserved stock is free again."),
}
# Actions the desk asks to confirm first: they cannot be undone from the desk.
TRANSITION_CONFIRM = {
    "cancel": _("Cancel this order? Its reserved stock is released and it cannot be reopened."),
    "complete": _("Complete this order? It cannot be changed afterwards."),
}


class ReviewRuleKind(models.TextChoices):
    ADDRESS_KEYWORD = "address_keyword", _("Address contains a keyword")
    PHONE_VELOCITY = "phone_velocity", _("Too many orders from one phone")
    IP_VELOCITY = "ip_velocity", _("Too many orders from one IP")
    AMOUNT_OVER = "amount_over", _("Amount above a threshold")
    BLACKLIST = "blacklist", _("Blacklisted phone, e-mail or IP")


class ReviewRule(TimeStampedModel):
    """A configurable check that holds a new order for review (R-O4); see orders.review."""

    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=20, choices=ReviewRuleKind.choices)
    is_active = models.BooleanField(_("active"), default=True)
    channel = models.ForeignKey(
        "integrations.Channel",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="review_rules",
        verbose_name=_("channel"),
        help_text=_("Empty means every channel."),
    )
    keywords = models.TextField(
        _("keywords"), blank=True, help_text=_("Address keywords, one per line or comma-separated.")
    )
    threshold_count = models.PositiveIntegerField(
        _("order count"),
        null=True,
        blank=True,
        help_text=_("Hold when the orders within the window, this one included, exceed this count."),
    )
    window_minutes = models.PositiveIntegerField(_("window (minutes)"), default=60)
    amount = MoneyField(_("amount"), null=True, blank=True, default=None)
    currency = CurrencyField(blank=True, help_text=_("The rule applies only to orders in this currency."))
    blacklist = models.TextField(
        _("blacklist"), blank=True, help_text=_("Phones, e-mails or IP addresses, one per line.")
    )
    priority = models.PositiveSmallIntegerField(
        _("priority"), default=100, help_text=_("Rules are evaluated from the lowest number up.")
    )

    class Meta:
        ordering = ["priority", "pk"]
        verbose_name = _("review rule")
        verbose_name_plural = _("review rules")

    def __str__(self):
        return self.name

    def clean(self):
        K = ReviewRuleKind
        required = {
            K.ADDRESS_KEYWORD: ["keywords"],
            K.PHONE_VELOCITY: ["threshold_count", "window_minutes"],
            K.IP_VELOCITY: ["threshold_count", "window_minutes"],
            K.AMOUNT_OVER: ["amount", "currency"],
            K.BLACKLIST: ["blacklist"],
        }.get(self.kind, [])
        missing = {f: _("This kind of rule needs this field.") for f in required if not getattr(self, f)}
        if missing:
            raise ValidationError(missing)

    @property
    def keyword_list(self) -> list[str]:
        return _split_values(self.keywords, separators=r"[\n,，、;；]+")

    @property
    def blacklist_values(self) -> set[str]:
        """Listed values as orders store them: lower case; phones also without spaces or dashes
        and in E.164 (orders.phones), as the intake writes them."""
        values = set()
        for value in _split_values(self.blacklist, separators=r"[\n,，;；]+"):
            values.add(value.lower())
            if not any(mark in value for mark in "@.:"):  # neither e-mail nor IP: a phone
                values.add(re.sub(r"[^\d+]", "", value))
                values.add((phones.e164(value) or "").lower())
        values.discard("")
        return values


def _split_values(text: str, *, separators: str) -> list[str]:
    return [value.strip() for value in re.split(separators, text or "") if value.strip()]


class GiftBasis(models.TextChoices):
    TOTAL = "total", _("Order total")
    PAID = "paid", _("Paid on the platform (the total when it does not say)")


class GiftRule(TimeStampedModel):
    """A gift (赠品) added to new orders at intake (orders.gifts): when the order is in the rule's
    channel, was placed within its window, has the trigger SKU in at least the trigger quantity
    and/or comes to at least the amount, `gift_quantity` of the gift SKU is added at zero price —
    once, or once per multiple of the trigger — up to `max_gifts` units. A gift the stock cannot
    cover is not added, and the order says so."""

    name = models.CharField(_("name"), max_length=120)
    is_active = models.BooleanField(_("active"), default=True)
    priority = models.PositiveSmallIntegerField(
        _("priority"), default=100, help_text=_("Rules are applied from the lowest number up.")
    )
    channel = models.ForeignKey(
        "integrations.Channel",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="gift_rules",
        verbose_name=_("channel"),
        help_text=_("Empty means every channel."),
    )
    trigger_sku = models.ForeignKey(
        "inventory.SKU",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("when this SKU is bought"),
        help_text=_("Empty: any order (within the channel, window and amount)."),
    )
    trigger_quantity = models.PositiveIntegerField(
        _("at least this many units"), default=1, help_text=_("Units of the trigger SKU the order must have.")
    )
    min_amount = MoneyField(
        _("order amount at least"),
        null=True,
        blank=True,
        default=None,
        help_text=_("Empty: any amount."),
    )
    currency = CurrencyField(
        blank=True, help_text=_("The amount's currency: orders in others never qualify.")
    )
    amount_basis = models.CharField(
        _("amount counted"), max_length=10, choices=GiftBasis.choices, default=GiftBasis.TOTAL
    )
    starts_at = models.DateTimeField(
        _("from"), null=True, blank=True, help_text=_("Orders placed from then on.")
    )
    ends_at = models.DateTimeField(
        _("until"), null=True, blank=True, help_text=_("Orders placed before then.")
    )
    gift_sku = models.ForeignKey(
        "inventory.SKU", on_delete=models.PROTECT, related_name="+", verbose_name=_("gift SKU")
    )
    gift_quantity = models.PositiveIntegerField(_("gift units"), default=1)
    per_multiple = models.BooleanField(
        _("per multiple"),
        default=False,
        help_text=_(
            "Give the gift once per multiple of the trigger (units or amount) instead of once per order."
        ),
    )
    max_gifts = models.PositiveIntegerField(
        _("at most this many gift units per order"), null=True, blank=True, help_text=_("Empty: no limit.")
    )

    class Meta:
        ordering = ["priority", "pk"]
        verbose_name = _("gift rule")
        verbose_name_plural = _("gift rules")
        constraints = [
            models.CheckConstraint(condition=Q(gift_quantity__gt=0), name="gift_rule_gift_quantity_positive"),
            models.CheckConstraint(
                condition=Q(trigger_quantity__gt=0), name="gift_rule_trigger_quantity_positive"
            ),
            models.CheckConstraint(
                condition=Q(max_gifts__isnull=True) | Q(max_gifts__gt=0), name="gift_rule_max_gifts_positive"
            ),
            models.CheckConstraint(
                condition=Q(min_amount__isnull=True) | Q(min_amount__gte=0),
                name="gift_rule_amount_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(starts_at__isnull=True) | Q(ends_at__isnull=True) | Q(ends_at__gt=F("starts_at")),
                name="gift_rule_window_ordered",
            ),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        errors = {}
        if self.min_amount is not None and not self.currency:
            errors["currency"] = _("Name the currency of the amount.")
        if self.currency and self.min_amount is None:
            errors["min_amount"] = _("Give the amount in this currency, or leave the currency empty.")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            errors["ends_at"] = _("The window must end after it starts.")
        if self.per_multiple and not (self.trigger_sku_id or self.min_amount):
            errors["per_multiple"] = _(
                "Only a rule with a trigger SKU or an amount above zero gives per multiple."
            )
        if self.gift_sku_id:
            gift = self.gift_sku
            if gift.is_bundle:
                errors["gift_sku"] = _("%(sku)s is a bundle: give one of its components instead.") % {
                    "sku": gift.code
                }
            elif not gift.is_active:
                errors["gift_sku"] = _("%(sku)s is inactive.") % {"sku": gift.code}
            elif gift.presale:
                errors["gift_sku"] = _("%(sku)s is a pre-sale item: a gift must be in stock.") % {
                    "sku": gift.code
                }
        if errors:
            raise ValidationError(errors)


class ReceiverDecryption(models.Model):
    """One decryption of an order's protected receiver data through the platform's API: who, why,
    which fields, and whether the platform answered. Append-only: the platforms ask sellers to
    keep this trail."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="receiver_decryptions")
    purpose = models.CharField(_("purpose"), max_length=40)
    fields = models.JSONField(_("fields"), default=list)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    succeeded = models.BooleanField(_("succeeded"), default=False)
    error = models.CharField(_("error"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("receiver decryption")
        verbose_name_plural = _("receiver decryptions")

    def __str__(self):
        return f"{self.order_id} {self.purpose} {self.created_at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ImmutableRowError("receiver decryptions are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableRowError("receiver decryptions are append-only")
