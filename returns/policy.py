"""What may come back (R-R1): per order line, how many units were delivered, how many are
already claimed by other RMAs, whether the item is excluded, and whether the request is still
within the return window — counted in calendar days in the channel's (customer's) time zone.

Reads only; returns.opening and returns.platform call these with the order row locked, so two requests for the
same units cannot both pass."""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Max, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from fulfilment.models import ShipmentLine, ShipmentStatus
from orders.breakdown import line_label
from orders.models import Order, OrderLine
from returns.models import VOID, ReturnExclusion, ReturnLine, ReturnPolicy


def policy_for(channel_id: int | None) -> ReturnPolicy:
    """The channel's policy, else the default row, else the settings' defaults (unsaved)."""
    policies = {
        p.channel_id: p for p in ReturnPolicy.objects.filter(Q(channel_id=channel_id) | Q(channel=None))
    }
    return policies.get(channel_id) or policies.get(None) or ReturnPolicy()


@dataclass
class LineAllowance:
    line: OrderLine
    delivered: int = 0
    claimed: int = 0  # units of open or finished RMAs (rejected and cancelled ones free theirs)
    delivered_at: datetime | None = None
    excluded_because: str = ""

    @property
    def returnable(self) -> int:
        return max(0, self.delivered - self.claimed)


def line_allowances(order: Order, *, exclude_rma_id: int | None = None) -> dict[int, LineAllowance]:
    """Every line of the order with what was delivered and what is already claimed (two
    grouped queries, whatever the number of lines)."""
    allowances = {
        line.pk: LineAllowance(line=line)
        for line in order.lines.select_related("sku", "parent_line__sku").order_by("line_no")
    }
    delivered = (
        ShipmentLine.objects.filter(order_line__order=order, shipment__status=ShipmentStatus.DELIVERED)
        .values("order_line_id")
        .annotate(units=Sum("quantity"), at=Max("shipment__delivered_at"))
    )
    for row in delivered:
        allowance = allowances.get(row["order_line_id"])
        if allowance is not None:
            allowance.delivered, allowance.delivered_at = row["units"], row["at"] or order.delivered_at
    claims = ReturnLine.objects.filter(order_line__order=order).exclude(rma__status__in=VOID)
    if exclude_rma_id is not None:
        claims = claims.exclude(rma_id=exclude_rma_id)
    for row in claims.values("order_line_id").annotate(units=Sum("quantity")):
        allowances[row["order_line_id"]].claimed = row["units"]
    _mark_exclusions(order, allowances)
    return allowances


def _mark_exclusions(order: Order, allowances: dict[int, LineAllowance]) -> None:
    rules = list(
        ReturnExclusion.objects.filter(is_active=True)
        .filter(Q(channel=None) | Q(channel_id=order.channel_id))
        .select_related("sku")
    )
    for allowance in allowances.values():
        sku = allowance.line.sku
        if sku is None:  # an item not mapped to a SKU yet: never delivered, nothing to exclude
            continue
        for rule in rules:
            if rule.sku_id == sku.pk or (rule.sku_prefix and sku.code.startswith(rule.sku_prefix)):
                allowance.excluded_because = rule.reason
                break


def days_since_delivery(delivered_at: datetime, now: datetime, zone) -> int:
    """Calendar days between delivery and now as the customer's calendar shows them: delivered
    at 23:50 and asked at 00:10 the next morning is day 1, not day 0."""
    return (timezone.localtime(now, zone).date() - timezone.localtime(delivered_at, zone).date()).days


@dataclass
class Verdict:
    """`refusals` can never be approved (more units than delivered and not yet claimed);
    `exceptions` break the policy and need an agent when the policy allows manual approval."""

    refusals: list[tuple[str, str]] = field(default_factory=list)
    exceptions: list[tuple[str, str]] = field(default_factory=list)

    @property
    def passes(self) -> bool:
        return not self.refusals and not self.exceptions


def judge(
    order: Order,
    policy: ReturnPolicy,
    allowances: dict[int, LineAllowance],
    wanted: dict[int, int],
    *,
    now: datetime,
    check_window: bool = True,
) -> Verdict:
    """Check a request for {order line id: units}. Messages name the line and say why."""
    verdict = Verdict()
    zone = order.channel_time_zone
    for line_id, quantity in wanted.items():
        allowance = allowances.get(line_id)
        if allowance is None:
            verdict.refusals.append(
                ("lines", _("Line %(id)s is not a line of this order.") % {"id": line_id})
            )
            continue
        label = f"#{allowance.line.line_no} {line_label(allowance.line)}"
        if allowance.delivered == 0:
            verdict.refusals.append(("lines", _("%(line)s has not been delivered yet.") % {"line": label}))
            continue
        if quantity > allowance.returnable:
            verdict.refusals.append(
                (
                    "lines",
                    _(
                        "%(line)s: %(wanted)s requested, but only %(left)s of %(delivered)s delivered units "
                        "are not already in a return."
                    )
                    % {
                        "line": label,
                        "wanted": quantity,
                        "left": allowance.returnable,
                        "delivered": allowance.delivered,
                    },
                )
            )
        if allowance.excluded_because:
            verdict.exceptions.append(
                (
                    "lines",
                    _("%(line)s cannot be returned: %(why)s")
                    % {"line": label, "why": allowance.excluded_because},
                )
            )
        if check_window and allowance.delivered_at is not None:
            day = days_since_delivery(allowance.delivered_at, now, zone)
            if day > policy.window_days:
                verdict.exceptions.append(
                    (
                        "reason",
                        _(
                            "%(line)s was delivered on %(date)s: day %(day)s, past the %(window)s-day "
                            "return window."
                        )
                        % {
                            "line": label,
                            "date": timezone.localtime(allowance.delivered_at, zone).date().isoformat(),
                            "day": day,
                            "window": policy.window_days,
                        },
                    )
                )
    return verdict
