"""Order SLAs (R-O7): an order may stay in a status at most `rule.hours`.

When an order entered its status: the newest timeline event whose `to_status` is that status.
Every way into a status writes one (creation, each transition, release from hold back to where the
order was), so a stay that was interrupted (paid → on hold → paid) is measured from the return,
and `placed_at` / `paid_at`, which are the platform's times, are not used. An order with no such
event is not judged.

Each run (beat, every minute), per active rule:
1. breach: an order of the rule's status (and channel) entered more than `hours` ago gets one
   alert to `rule.role`, key "sla:<rule>:<order>:<entered, epoch seconds>" — once per stay, so an
   alert someone resolved by hand stays resolved until the order leaves and comes back;
2. escalation: a breach alert still open (nobody acknowledged or took it) `escalate_after_minutes`
   after the breach (after it was raised, if later) is escalated once: `escalated_at` is set and
   a critical alert "<key>:escalated" goes to `rule.escalate_to`;
3. resolution: alerts whose order left the status (or whose rule is gone or inactive) resolve,
   the escalated copy with them.
Set-based and batched; two runs at once raise each alert once (the unique unresolved key) and
escalate each once (rows claimed with SKIP LOCKED and `escalated_at`).

SLA rules are edited in the admin. No data migration seeds them: `sla_default_rules()` creates the
usual ones (seed_demo calls it)."""

from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import BigIntegerField, CharField, Exists, Func, OuterRef, Subquery, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from core.alerts import alerts_raise_many
from core.models import Alert, AlertSeverity, AlertState
from core.roles import Role
from fulfilment.models import SlaRule
from orders.models import Order, OrderEvent, OrderStatus

KIND = "sla"
ESCALATED = ":escalated"
BATCH = 1000


def _entered(status: str) -> Subquery:
    return Subquery(
        OrderEvent.objects.filter(order=OuterRef("pk"), to_status=status)
        .order_by("-created_at")
        .values("created_at")[:1]
    )


def rule_orders(rule: SlaRule):
    orders = Order.objects.filter(status=rule.status)
    if rule.channel_id:
        orders = orders.filter(channel_id=rule.channel_id)
    return orders.annotate(entered_at=_entered(rule.status))


def alert_key(rule_id: int, order_id: int, entered_at: datetime) -> str:
    return f"{KIND}:{rule_id}:{order_id}:{int(entered_at.timestamp())}"


def _parse(key: str) -> tuple[int, int, int] | None:
    """(rule id, order id, entered epoch) of a breach key or its escalated copy."""
    parts = key.removesuffix(ESCALATED).split(":")
    if len(parts) != 4 or parts[0] != KIND:
        return None
    try:
        return int(parts[1]), int(parts[2]), int(parts[3])
    except ValueError:
        return None


def _hours(value: Decimal) -> str:
    return f"{value.normalize():f}"


def sla_evaluate(*, now: datetime | None = None) -> dict[str, int]:
    """One run of the SLA watch; counts of alerts raised, escalated and resolved."""
    now = now or timezone.now()
    counts = {"raised": 0, "escalated": 0, "resolved": 0}
    for rule in SlaRule.objects.filter(is_active=True).order_by("pk"):
        counts["raised"] += _raise_breaches(rule, now)
        counts["escalated"] += _escalate(rule, now)
    counts["resolved"] = _resolve(now)
    return counts


def _raise_breaches(rule: SlaRule, now: datetime) -> int:
    cutoff = now - timedelta(seconds=float(rule.hours) * 3600)
    status_label = OrderStatus(rule.status).label if rule.status in OrderStatus.values else rule.status
    breached = (
        rule_orders(rule)
        .filter(entered_at__lte=cutoff)
        .exclude(Exists(_unresolved_breach(rule)))  # steady state: only new breaches come back
        .order_by("pk")
    )
    raised, last_pk = 0, 0
    while True:
        batch = list(breached.filter(pk__gt=last_pk).values_list("pk", "number", "entered_at")[:BATCH])
        if not batch:
            return raised
        last_pk = batch[-1][0]
        keyed = {alert_key(rule.pk, pk, entered): (pk, number, entered) for pk, number, entered in batch}
        # An alert someone resolved by hand stays resolved for this stay (any state counts here).
        seen = set(Alert.objects.filter(key__in=list(keyed)).values_list("key", flat=True))
        alerts = []
        for key, (pk, number, entered) in keyed.items():
            if key in seen:
                continue
            waited = (now - entered).total_seconds() / 3600
            alerts.append(
                {
                    "kind": KIND,
                    "key": key,
                    "role": rule.role,
                    "severity": AlertSeverity.WARNING,
                    "message": (
                        _(
                            "Order %(number)s has been %(status)s for %(waited).1f h; rule “%(rule)s” allows "
                            "%(hours)s h."
                        )
                        % {
                            "number": number,
                            "status": status_label,
                            "waited": waited,
                            "rule": rule.name,
                            "hours": _hours(rule.hours),
                        }
                    )[:500],
                    "payload": {
                        "rule_id": rule.pk,
                        "order_id": pk,
                        "order_number": number,
                        "status": rule.status,
                        "entered_at": entered.isoformat(),
                    },
                }
            )
        raised += alerts_raise_many(alerts)


class _Epoch(Func):
    """Whole seconds since the epoch of a datetime: int(value.timestamp()) in SQL."""

    arity = 1
    output_field = BigIntegerField()

    def as_sql(self, compiler, connection, **extra):  # PostgreSQL
        return super().as_sql(
            compiler, connection, template="FLOOR(EXTRACT(EPOCH FROM %(expressions)s))::bigint", **extra
        )

    def as_sqlite(self, compiler, connection, **extra):
        seconds = Func(Value("%s"), self.source_expressions[0], function="strftime", output_field=CharField())
        return compiler.compile(Cast(seconds, BigIntegerField()))


def _unresolved_breach(rule: SlaRule):
    """The order's unresolved breach alert for its current stay: alert_key() in SQL, matched
    exactly (the partial unique index on the unresolved key answers it)."""
    key = Concat(
        Value(f"{KIND}:{rule.pk}:"),
        Cast(OuterRef("pk"), CharField()),
        Value(":"),
        Cast(_Epoch(OuterRef("entered_at")), CharField()),
        output_field=CharField(),
    )
    return Alert.objects.filter(key=key).exclude(state=AlertState.RESOLVED)


def _escalation_due(alert: Alert, rule: SlaRule, now: datetime) -> bool:
    """Open for `escalate_after_minutes` since the breach (or since the alert was raised, when
    the rule came later than the breach): people get the whole window to react."""
    try:
        breached = datetime.fromisoformat(alert.payload["entered_at"]) + timedelta(
            seconds=float(rule.hours) * 3600
        )
    except (KeyError, TypeError, ValueError):
        breached = alert.created_at
    return max(breached, alert.created_at) + timedelta(minutes=rule.escalate_after_minutes) <= now


def _escalate(rule: SlaRule, now: datetime) -> int:
    due = (
        Alert.objects.filter(
            kind=KIND,
            key__startswith=f"{KIND}:{rule.pk}:",
            state=AlertState.OPEN,
            owner__isnull=True,
            escalated_at__isnull=True,
            created_at__lte=now - timedelta(minutes=rule.escalate_after_minutes),
        )
        .exclude(key__endswith=ESCALATED)
        .order_by("pk")
    )
    escalated, last_pk = 0, 0
    while True:
        batch = list(due.filter(pk__gt=last_pk).only("pk", "created_at", "payload")[:BATCH])
        if not batch:
            return escalated
        last_pk = batch[-1].pk
        ready = [alert.pk for alert in batch if _escalation_due(alert, rule, now)]
        if not ready:
            continue
        with transaction.atomic():
            # Claimed rows get escalated_at; another run skips them while we hold them and then
            # no longer finds them (the filter is checked again under the lock).
            claimed = list(due.filter(pk__in=ready).select_for_update(skip_locked=True))
            Alert.objects.filter(pk__in=[a.pk for a in claimed]).update(escalated_at=now)
            Alert.objects.bulk_create(
                [_escalated_copy(alert, rule) for alert in claimed], ignore_conflicts=True
            )
        escalated += len(claimed)


def _escalated_copy(alert: Alert, rule: SlaRule) -> Alert:
    return Alert(
        kind=KIND,
        key=f"{alert.key}{ESCALATED}",
        role=rule.escalate_to,
        severity=AlertSeverity.CRITICAL,
        message=(
            _("Escalated: nobody took this on within %(minutes)s minutes. %(message)s")
            % {"minutes": rule.escalate_after_minutes, "message": alert.message}
        )[:500],
        payload={**alert.payload, "escalated_from": alert.pk, "escalated_from_role": alert.role},
    )


def _resolve(now: datetime) -> int:
    """Resolve breach alerts (and escalated copies) whose order is no longer in that stay."""
    open_alerts = Alert.objects.filter(kind=KIND).exclude(state=AlertState.RESOLVED)
    by_rule: dict[int, dict[int, set[int]]] = {}  # rule → order → entered epochs alerted
    keys: dict[tuple[int, int, int], list[int]] = {}
    for pk, key in open_alerts.values_list("pk", "key").iterator(chunk_size=BATCH):
        parsed = _parse(key)
        if parsed is None:
            continue
        rule_id, order_id, epoch = parsed
        by_rule.setdefault(rule_id, {}).setdefault(order_id, set()).add(epoch)
        keys.setdefault(parsed, []).append(pk)
    if not keys:
        return 0
    rules = SlaRule.objects.filter(is_active=True).in_bulk(list(by_rule))
    still: set[tuple[int, int, int]] = set()
    for rule_id, orders in by_rule.items():
        rule = rules.get(rule_id)
        if rule is None:
            continue
        order_ids = list(orders)
        for start in range(0, len(order_ids), BATCH):
            for order_id, entered in (
                rule_orders(rule)
                .filter(pk__in=order_ids[start : start + BATCH])
                .values_list("pk", "entered_at")
            ):
                if entered is not None:
                    still.add((rule_id, order_id, int(entered.timestamp())))
    gone = [pk for parsed, pks in keys.items() if parsed not in still for pk in pks]
    resolved = 0
    for start in range(0, len(gone), BATCH):
        resolved += (
            Alert.objects.filter(pk__in=gone[start : start + BATCH])
            .exclude(state=AlertState.RESOLVED)
            .update(state=AlertState.RESOLVED, resolved_at=now)
        )
    return resolved


# The names are stored as written here and shown in the reader's language (core.stored_text); a
# name an administrator changes is shown as typed.
DEFAULT_RULES = [
    # (name, status, hours, role, escalate after minutes, escalate to)
    (
        gettext_noop("Paid orders routed within 2 h"),
        OrderStatus.PAID,
        Decimal("2"),
        Role.WAREHOUSE,
        60,
        Role.MANAGER,
    ),
    (
        gettext_noop("Allocated orders shipped within 24 h"),
        OrderStatus.ALLOCATED,
        Decimal("24"),
        Role.WAREHOUSE,
        60,
        Role.MANAGER,
    ),
    (
        gettext_noop("Partially shipped orders complete within 48 h"),
        OrderStatus.PARTIALLY_SHIPPED,
        Decimal("48"),
        Role.WAREHOUSE,
        120,
        Role.MANAGER,
    ),
    (
        gettext_noop("Held orders reviewed within 4 h"),
        OrderStatus.ON_HOLD,
        Decimal("4"),
        Role.CUSTOMER_SERVICE,
        60,
        Role.MANAGER,
    ),
    (
        gettext_noop("Shipped orders delivered within 7 days"),
        OrderStatus.SHIPPED,
        Decimal("168"),
        Role.CUSTOMER_SERVICE,
        240,
        Role.MANAGER,
    ),
]


def sla_default_rules() -> list[SlaRule]:
    """Create the usual SLA rules that do not exist yet (by name); returns all of them. Safe to
    re-run: existing rules, edited or not, are left alone."""
    rules = []
    for name, status, hours, role, escalate_after, escalate_to in DEFAULT_RULES:
        rule, _created = SlaRule.objects.get_or_create(
            name=name,
            defaults={
                "status": status,
                "hours": hours,
                "role": role,
                "escalate_after_minutes": escalate_after,
                "escalate_to": escalate_to,
            },
        )
        rules.append(rule)
    return rules
