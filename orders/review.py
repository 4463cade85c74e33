"""Review rules (风控/审核, R-O4): which new orders wait on hold until an agent releases or cancels
them. Both ingestion paths call the same two functions: `review_orders` (set-based over a batch)
and `hold_reason` (the one hold a new order gets, for stock, for review or for both).

Velocity rules count orders by arrival (`created_at`) in the `window_minutes` before now, any
status, in the rule's channel (every channel when it has none). An order is held when that count,
this order included, exceeds `threshold_count`. Within a batch an order counts the batch orders
before it but not those after it, so a batch holds exactly the orders one-by-one ingestion would.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from django.db import connection
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core.money import Money
from core.raw_models import Columns
from orders.models import Order, OrderStatus, ReviewRule, ReviewRuleKind

K = ReviewRuleKind
VELOCITY_FIELDS = {K.PHONE_VELOCITY: "customer_phone", K.IP_VELOCITY: "buyer_ip"}
ADDRESS_FIELDS = ("ship_line1", "ship_line2", "ship_district", "ship_city")
BLACKLIST_FIELDS = ("customer_phone", "ship_phone", "customer_email", "buyer_ip")


@dataclass(frozen=True)
class ReviewHit:
    rule_id: int
    name: str
    why: str

    def as_payload(self) -> dict:
        return {"rule": self.rule_id, "name": self.name, "why": self.why}


def review_orders(orders: list[Order], *, now=None) -> dict[int, list[ReviewHit]]:
    """{order id: hits, in rule priority order} for the saved new `orders` (in arrival order) that
    an active rule catches; orders no rule catches are left out."""
    orders = [order for order in orders if order.status != OrderStatus.CANCELLED]
    rules = _active_rules() if orders else []
    if not rules:
        return {}
    counts = _velocity_counts(rules, orders, now or timezone.now())
    hits: dict[int, list[ReviewHit]] = {}
    for order in orders:
        for rule in rules:
            why = _applies(rule, order) and CHECKS[rule.kind](rule, order, counts)
            if why:
                hits.setdefault(order.pk, []).append(ReviewHit(rule.pk, rule.name, why))
    return hits


def _active_rules() -> list[ReviewRule]:
    """In priority order. Written out (core.raw_models): every intake batch asks, and compiling
    the queryset cost more than running it (issue #18)."""
    columns = _rule_columns()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns.sql} FROM {ReviewRule._meta.db_table} r "
            "WHERE r.is_active ORDER BY r.priority, r.id"
        )
        return [columns.read(row, 0) for row in cursor.fetchall()]


@cache
def _rule_columns() -> Columns:
    return Columns(ReviewRule, "r")


def hold_reason(stock_hold: tuple[str, dict] | None, hits: list[ReviewHit]) -> tuple[str, dict] | None:
    """(reason, event payload) of a new order's hold. An order held for stock is not held twice:
    the review is added to that hold's reason and payload."""
    if not hits:
        return stock_hold
    described = "; ".join(f"{hit.name} ({hit.why})" for hit in hits)
    reason = _("Held for review: %(rules)s") % {"rules": described}
    payload = {"review": [hit.as_payload() for hit in hits]}
    if stock_hold is None:
        return reason, payload
    return f"{stock_hold[0]}; {reason}", {**stock_hold[1], **payload}


def _applies(rule: ReviewRule, order: Order) -> bool:
    return rule.channel_id is None or rule.channel_id == order.channel_id


def _velocity_counts(rules: list[ReviewRule], orders: list[Order], now) -> dict[tuple[int, int], int]:
    """{(rule id, order id): orders from the order's phone / IP within the rule's window, counting
    the batch orders up to this one}."""
    counts: dict[tuple[int, int], int] = {}
    for kind, field in VELOCITY_FIELDS.items():
        kind_rules = [rule for rule in rules if rule.kind == kind and rule.threshold_count]
        keys = {getattr(order, field) for order in orders if getattr(order, field)}
        if not (kind_rules and keys):
            continue
        totals = _grouped_counts(field, keys, kind_rules, now)
        for rule in kind_rules:
            later: Counter = Counter()  # batch orders after this one are in the totals already
            for order in reversed([order for order in orders if _applies(rule, order)]):
                key = getattr(order, field)
                if key:
                    counts[(rule.pk, order.pk)] = totals.get((rule.pk, key), 0) - later[key]
                    later[key] += 1
    return counts


def _grouped_counts(field: str, keys: set, rules: list[ReviewRule], now) -> dict[tuple[int, str], int]:
    """{(rule id, phone or IP): orders in the rule's window and channel}: one grouped query with
    one conditional count per rule."""
    since = {rule.pk: now - timedelta(minutes=rule.window_minutes) for rule in rules}
    per_rule = {}
    for rule in rules:
        counted = Q(created_at__gte=since[rule.pk])
        if rule.channel_id is not None:
            counted &= Q(channel_id=rule.channel_id)
        per_rule[f"rule_{rule.pk}"] = Count("pk", filter=counted)
    rows = (
        Order.objects.filter(**{f"{field}__in": keys}, created_at__gte=min(since.values()))
        .values(field)
        .annotate(**per_rule)
    )
    return {(rule.pk, row[field]): row[f"rule_{rule.pk}"] for row in rows for rule in rules}


def _address_keyword(rule: ReviewRule, order: Order, counts) -> str | None:
    address = "\n".join(getattr(order, field) or "" for field in ADDRESS_FIELDS).casefold()
    for keyword in rule.keyword_list:
        if keyword.casefold() in address:
            return _("Address contains the keyword “%(keyword)s”") % {"keyword": keyword}
    return None


def _velocity(rule: ReviewRule, order: Order, counts) -> str | None:
    count = counts.get((rule.pk, order.pk), 0)
    if not rule.threshold_count or count <= rule.threshold_count:
        return None
    return _("%(count)s orders from %(value)s within %(minutes)s min") % {
        "count": count,
        "value": getattr(order, VELOCITY_FIELDS[rule.kind]),
        "minutes": rule.window_minutes,
    }


def _amount_over(rule: ReviewRule, order: Order, counts) -> str | None:
    if rule.amount is None or order.currency != rule.currency or order.total <= rule.amount:
        return None
    return _("Amount %(total)s above %(limit)s") % {
        "total": order.money("total"),
        "limit": Money(rule.amount, rule.currency),
    }


def _blacklisted(rule: ReviewRule, order: Order, counts) -> str | None:
    listed = rule.blacklist_values
    for field in BLACKLIST_FIELDS:
        value = getattr(order, field)
        if value and str(value).lower() in listed:
            return _("Blacklisted: %(value)s") % {"value": value}
    return None


CHECKS = {
    K.ADDRESS_KEYWORD: _address_keyword,
    K.PHONE_VELOCITY: _velocity,
    K.IP_VELOCITY: _velocity,
    K.AMOUNT_OVER: _amount_over,
    K.BLACKLIST: _blacklisted,
}
