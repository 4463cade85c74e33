"""Realistic demo data: 3 channels, 4 warehouses, 200 SKUs, 5,000 orders in every state, and
one user per role. Orders are built through the real services, so every state has its timeline.

Safe to run beside a worker, and it leaves the worker nothing to do: every step is its own short
transaction that takes its locks in the order every other path does (the orders of a batch enter
through the intake's one set-based pass, are routed together through the batch router, and each
parcel then travels alone), and it does the follow-up work itself instead of queuing a task per
order — it routes inline, refreshes the customers' statistics once at the end, and its shops do
not notify their (invented) customers.

`make run` serves the desk before all of it is done: `--ready-first N` takes every order in, takes
the N most recent to their states with the returns, purchasing and B2B demo, and leaves the older
orders in `desk.DemoBacklog`; `--resume`, started beside the web server, routes and ships them in
the background, then books revenue and loads the finance demo (which reconciles against every
order), while the desk shows how many orders remain.
"""

import random
import zlib
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from b2b.demo import seed_b2b_demo
from catalog.models import Channel, WriteBackMoment
from core.errors import DomainError, TransitionRefused
from core.roles import Role, sync_roles
from dashboard.rollups import rollup_refresh
from desk.demo_data import (
    CANCEL_REASONS,
    CARRIERS,
    CHANNELS,
    CN_ADDRESSES,
    DEMO_PASSWORD,
    DEMO_USERS,
    EXTERNAL_ID_FORMATS,
    FOREIGN_ADDRESSES,
    GIVEN,
    HOLD_REASONS,
    PRODUCTS,
    PROTECTED_RECEIVER_PLATFORMS,
    ROUTED_STATES,
    SHIPPING,
    SIZES,
    STATE_MIX,
    SURNAMES,
    VARIANTS,
    WAREHOUSES,
    WESTERN,
)
from desk.models import DemoBacklog
from finance.demo import seed_finance_demo
from finance.revenue import revenue_backfill
from fulfilment import routing
from fulfilment.models import Carrier, RoutingPolicy, Shipment, ShipmentLine, ShipmentStatus, ShippingRate
from fulfilment.services import shipment_transition
from fulfilment.sla import sla_default_rules
from inventory.ledger import default_pool_id, standard_pool
from inventory.models import (
    SKU,
    ChannelPool,
    MovementKind,
    PoolKind,
    SafetyStock,
    StockPool,
    Warehouse,
)
from inventory.services import stock_change, stock_transfer
from orders import intake, services
from orders.jobs import customer_refresh_stats
from orders.models import Customer, LineKind, Order, OrderStatus
from orders.replenishment import replenishment_refresh
from purchasing.demo import seed_purchasing_demo
from returns.decisions import rma_cancel, rma_reject
from returns.inspection import rma_inspect
from returns.logistics import rma_receive, rma_set_tracking
from returns.models import RefundState, ReturnPolicy, ReturnRefund, ReturnStatus
from returns.opening import rma_create
from returns.refunds.lifecycle import refund_confirm_manual

BATCH = 250  # orders per intake transaction (one set-based reservation pass each)
ADVANCE_PART = 250  # orders routed together (routing.route_orders), then shipped one by one


def _commit_without_waiting_for_disk() -> None:
    """Demo data need not wait for the disk at each of its thousands of short commits: on
    PostgreSQL this session turns synchronous_commit off (a crash loses at most the last moment of
    demo data, never consistency). SQLite already runs with synchronous=NORMAL. Not behind PgBouncer
    in transaction pooling (DB_DISABLE_SERVER_SIDE_CURSORS), where a session setting would outlive
    this command on a server connection other clients share."""
    pooled = connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS")
    if connection.vendor == "postgresql" and not pooled:
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO OFF")


class Command(BaseCommand):
    help = "Load realistic demo data (once; --force to add another batch of orders)."

    def add_arguments(self, parser):
        parser.add_argument("--orders", type=int, default=5000)
        parser.add_argument("--force", action="store_true")
        parser.add_argument("--seed", type=int, default=20260216)
        parser.add_argument(
            "--ready-first",
            type=int,
            metavar="N",
            help="take all orders in but route and ship only the N most recent now; "
            "`--resume` does the rest (make run serves the desk meanwhile)",
        )
        parser.add_argument(
            "--resume", action="store_true", help="take the orders a --ready-first run left to their states"
        )

    def handle(self, *args, orders, force, seed, ready_first, resume, **options):
        if resume:
            self._resume()
            return
        if ready_first is not None and ready_first < 0:
            raise CommandError("--ready-first takes the number of orders to make ready first (0 or more).")
        sync_roles()
        self._users()
        if Order.objects.exists() and not force:
            self.stdout.write("Demo orders already exist; users refreshed. Use --force to add more.")
            return
        _commit_without_waiting_for_disk()
        rng = random.Random(seed)
        start = timezone.now()
        channels = self._channels()
        warehouses = self._warehouses()
        self._routing(warehouses)
        skus = self._skus()
        self._stock(rng, warehouses, skus, channels)
        customers = self._customer_pool(rng)
        taken = self._take_in(rng, orders, channels, skus, customers)
        # The most recent first: they are what the desk opens on, and the returns below need them.
        taken.sort(key=lambda item: item[0].placed_at, reverse=True)
        now = taken if ready_first is None else taken[:ready_first]
        later = taken[len(now) :]
        if later:  # and, once they are done, the step that needs them all (see _finish)
            DemoBacklog.objects.bulk_create(
                [DemoBacklog(order=order, target_status=state) for order, state in later] + [DemoBacklog()]
            )
        self._advance_all(now)
        seed_b2b_demo()  # one wholesale account with a contract in delivery
        self._refresh()
        sla_default_rules()
        self._returns(rng)
        seed_purchasing_demo()  # suppliers with their items, purchase orders in several states
        if not later:
            self._finish()
        else:
            rollup_refresh(full=True)  # the ready orders' figures until --resume finishes
        took = (timezone.now() - start).total_seconds()
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {orders} orders in {took:.1f}s"
                + (f"; {len(later)} older ones wait for `seed_demo --resume`." if later else ".")
            )
        )

    def _take_in(self, rng, orders, channels, skus, customers) -> list[tuple[Order, str]]:
        """Every order through the intake's set-based batches (paid ones reserve their stock);
        returns the new orders with the state each is to reach."""
        mix = [state for state, weight in STATE_MIX for _ in range(weight)]
        numbered = Order.objects.filter(channel__in=channels).count()  # --force: new external ids
        taken = []
        for first in range(0, orders, BATCH):
            states = [rng.choice(mix) for _ in range(first, min(first + BATCH, orders))]
            items = [
                self._canonical(rng, numbered + first + i, channels, skus, customers, state)
                for i, state in enumerate(states)
            ]
            results = intake.order_ingest_batch(items=items, follow_up=False)
            taken += [
                (order, state) for state, (order, created) in zip(states, results, strict=True) if created
            ]
            self.stdout.write(f"  {first + len(states)} orders taken in…")
        return taken

    def _advance_all(self, orders: list[tuple[Order, str]], *, done=None, what: str = "orders") -> None:
        """Take the orders to their states ADVANCE_PART at a time; `done(part)` after each part."""
        for start in range(0, len(orders), ADVANCE_PART):
            part = orders[start : start + ADVANCE_PART]
            self._advance(part)
            if done is not None:
                done(part)
            self.stdout.write(f"  {start + len(part)} of {len(orders)} {what} routed and shipped…")

    def _refresh(self) -> None:
        """What a worker's per-order tasks would have kept current, done once for all orders."""
        customer_refresh_stats(customer_ids=list(Customer.objects.values_list("pk", flat=True)))
        replenishment_refresh()

    def _finish(self) -> None:
        """What needs every order in its state: revenue lines, then the finance demo (payments
        and a reconciled statement, which compare against those lines) and the dashboard."""
        revenue_backfill()
        seed_finance_demo()  # payments, the last month's Alipay statement imported and reconciled
        rollup_refresh(full=True)  # the dashboard has its numbers before beat's first refresh

    def _resume(self) -> None:
        """Take the orders a `--ready-first` run left to their states, the most recent first,
        then finish the demo. Each row goes once its step is done, so a stopped run picks up
        where it stopped (the finance demo records what is missing only)."""
        _commit_without_waiting_for_disk()
        steps = DemoBacklog.objects.order_by("-order__placed_at", "pk")
        pending = list(steps.filter(order__isnull=False).values_list("pk", "order_id", "target_status"))
        if not pending and not steps.exists():
            return
        started = timezone.now()
        orders = Order.objects.in_bulk([order_id for _pk, order_id, _state in pending])
        backlog = {order_id: pk for pk, order_id, _state in pending}

        def done(part):
            DemoBacklog.objects.filter(pk__in=[backlog[order.pk] for order, _state in part]).delete()

        self._advance_all(
            [(orders[order_id], state) for _pk, order_id, state in pending], done=done, what="older orders"
        )
        self._refresh()
        self._finish()
        DemoBacklog.objects.all().delete()
        took = (timezone.now() - started).total_seconds()
        self.stdout.write(self.style.SUCCESS(f"Loaded the other {len(pending)} demo orders in {took:.1f}s."))

    def _returns(self, rng, count: int = 30):
        """RMAs on recently delivered orders in every state a return passes through, so each role
        has returns to work: WooCommerce EU approves by hand (requested, one rejected); the others
        are approved at once, then some wait for the parcel, arrive, are inspected, wait for their
        refund, are refunded and closed, or are cancelled."""
        recent = timezone.now() - timedelta(days=6)
        delivered = list(
            Order.objects.filter(status=OrderStatus.DELIVERED, delivered_at__gte=recent).order_by("pk")[
                : count * 2
            ]
        )
        ReturnPolicy.objects.update_or_create(
            channel=Channel.objects.get(code="woo-eu"),
            defaults={"auto_approve": False, "manual_approval": True},
        )
        finance = get_user_model().objects.filter(username="finance").first()
        receiving = Warehouse.objects.filter(is_active=True).order_by("pk").first()
        stages = ["approved", "awaiting_return", "received", "inspected", "paid_out", "cancelled"]
        for index, order in enumerate(rng.sample(delivered, min(count, len(delivered)))):
            line = order.lines.order_by("line_no").first()
            reason = rng.choice(["no_reason", "damaged", "not_as_described"])
            try:
                rma = rma_create(
                    order=order,
                    kind="return",
                    reason=reason,
                    lines=[{"order_line": line.pk, "quantity": 1}],
                    description="演示退货 / demo return",
                )
                if rma.status == ReturnStatus.REQUESTED:  # the hand-approved channel
                    if index % 3 == 0:
                        rma_reject(rma=rma, reason="超出质保范围 / outside the warranty")
                    continue
                self._return_to_stage(rma, stages[index % len(stages)], reason, receiving, finance)
            except DomainError as exc:  # outside the policy (e.g. an excluded item): skip it
                self.stdout.write(f"  RMA for {order.number} skipped: {exc.message}")

    def _return_to_stage(self, rma, stage, reason, receiving, finance):
        if stage == "approved":
            return
        if stage == "cancelled":
            rma_cancel(rma=rma, reason="顾客撤销 / the customer withdrew")
            return
        rma = rma_set_tracking(rma=rma, tracking_number=f"SF{rma.pk:010d}")
        if stage == "awaiting_return":
            return
        rma = rma_receive(rma=rma, warehouse=receiving)
        if stage == "received":
            return
        grade = "damaged" if reason == "damaged" else "intact"
        rma = rma_inspect(rma=rma, grades={rl.pk: {grade: rl.quantity} for rl in rma.lines.all()})
        refund = ReturnRefund.objects.filter(rma=rma).first()
        if stage == "paid_out" and refund is not None and refund.state == RefundState.MANUAL:
            refund_confirm_manual(refund=refund, reference=f"BANK-{rma.pk:06d}", actor=finance)

    def _users(self):
        User = get_user_model()
        for username, role in DEMO_USERS.items():
            user, _ = User.objects.get_or_create(username=username)
            user.is_staff = role in (Role.ADMIN, Role.MANAGER)
            user.set_password(DEMO_PASSWORD)
            user.save()
            user.groups.set([Group.objects.get(name=role)])

    def _channels(self):
        result = []
        for code, platform, name, zone, currency in CHANNELS:
            channel, _ = Channel.objects.update_or_create(
                code=code,
                defaults={
                    "platform": platform,
                    "name": name,
                    "time_zone": zone,
                    "currency": currency,
                    "notify_customers": False,  # invented customers: nothing to send them
                    "writeback_on": WriteBackMoment.OFF,  # invented shops: no platform to tell
                },
            )
            result.append(channel)
        return result

    def _warehouses(self):
        return [
            Warehouse.objects.update_or_create(
                code=code,
                defaults={
                    "name": name,
                    "kind": kind,
                    "province": province,
                    "city": city,
                    "district": district,
                    "latitude": Decimal(str(lat)),
                    "longitude": Decimal(str(lng)),
                    "service_regions": regions,
                },
            )[0]
            for code, name, kind, province, city, district, lat, lng, regions in WAREHOUSES
        ]

    @transaction.atomic
    def _routing(self, warehouses):
        """Carriers, shipping rates and the default routing policy, so routing has a choice to make:
        a parcel is cheaper and faster within a warehouse's service regions, and the Chengdu store
        ships to addresses within 30 km of it."""
        carriers = {
            code: Carrier.objects.update_or_create(
                code=code, defaults={"name": name, "tracking_code": company}
            )[0]
            for code, name, company in CARRIERS
        }
        for warehouse in warehouses:
            carrier_code, (near_cost, near_days), (far_cost, far_days) = SHIPPING[warehouse.code]
            Warehouse.objects.filter(pk=warehouse.pk).update(default_carrier=carriers[carrier_code])
            warehouse.default_carrier = carriers[carrier_code]
            rates = [("", far_cost, far_days)] + [
                (p, near_cost, near_days) for p in warehouse.service_regions
            ]
            for province, cost, days in rates:
                ShippingRate.objects.update_or_create(
                    warehouse=warehouse,
                    province=province,
                    defaults={"cost": cost, "currency": "CNY", "days": days},
                )
        RoutingPolicy.objects.update_or_create(
            channel=None,
            defaults={
                "name": "默认路由 / Default routing",
                "strategies": ["availability", "delivery_time", "cost"],
                "allow_split": True,
                "store_geofence_km": Decimal("30"),
            },
        )

    def _stock(self, rng, warehouses, skus, channels):
        """Receipts per SKU and warehouse (tea in lots, one close to expiry), a live-stream pool
        for the Tmall shop, and safety stock on a few best sellers. Each receipt is its own
        transaction: one holding many balance rows would take them out of the ledger's order."""
        today = timezone.localdate()
        live = standard_pool(PoolKind.LIVE)
        regular = StockPool.objects.get(pk=default_pool_id())
        for channel in channels[:1]:
            ChannelPool.objects.get_or_create(channel=channel, pool=regular, defaults={"priority": 2})
            ChannelPool.objects.get_or_create(channel=channel, pool=live, defaults={"priority": 1})
        for sku, _price in skus:
            if sku.presale:  # pre-sale stock has not arrived: those lines wait, unrouted
                continue
            for warehouse in warehouses:
                quantity = (
                    5
                    if sku.lot_tracked and warehouse == warehouses[-1]
                    else rng.choice([0, 20, 60, 120, 300])
                )
                if not quantity:
                    continue
                lot = {}
                if sku.lot_tracked:
                    months = 2 if warehouse == warehouses[-1] else rng.choice([8, 14])  # one lot near expiry
                    lot = {
                        "lot_code": f"L{today:%y%m}-{months}",
                        "expires_on": today + timedelta(days=30 * months),
                    }
                stock_change(
                    kind=MovementKind.RECEIPT,
                    sku=sku,
                    warehouse=warehouse,
                    quantity=quantity,
                    reference=f"PO-{today:%Y%m}-{warehouse.code}",
                    **lot,
                )
            if sku.code.startswith("MUG"):
                SafetyStock.objects.update_or_create(sku=sku, channel=channels[0], defaults={"quantity": 50})
        hot = skus[0][0]
        balance = hot.balances.filter(pool=regular, lot__isnull=False).order_by("-on_hand").first()
        if balance and balance.available >= 20:
            stock_transfer(balance=balance, quantity=20, to_pool=live, reference="直播间 2026-11 专场")

    def _skus(self):
        skus = []
        for prefix, zh, en, price in PRODUCTS:
            for variant in VARIANTS:
                for size in SIZES:
                    code = f"{prefix}-{variant}-{size}"
                    sku, _ = SKU.objects.update_or_create(
                        code=code,
                        defaults={
                            "name": f"{zh} / {en} {variant} {size}",
                            "barcode": f"69{zlib.crc32(code.encode()) % 10**11:011d}",
                            "presale": prefix == "LAMP" and size == "XL",
                            "lot_tracked": prefix == "TEA",
                        },
                    )
                    skus.append((sku, price))
        return skus

    def _customer_pool(self, rng):
        pool = []
        for index in range(1500):
            pool.append(
                {
                    "name": rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN[:5]),
                    "western": rng.choice(WESTERN),
                    "phone": f"13{rng.randint(0, 9)}{index:08d}",
                    "email": f"buyer{index}@example.com",
                }
            )
        Customer.objects.filter(phone__in=[c["phone"] for c in pool[:60]]).update(is_vip=True)
        return pool

    def _canonical(self, rng, index, channels, skus, customers, state):
        """The order as a platform would send it (a canonical order for the intake)."""
        channel = channels[index % len(channels)]
        person = rng.choice(customers)
        if channel.currency == "CNY":
            province, city, district, line1, postcode = rng.choice(CN_ADDRESSES)
            country, name, rate = "CN", person["name"], Decimal("1")
        else:
            country = "US" if channel.currency == "USD" else "DE"
            province, city, district, line1, postcode = rng.choice(FOREIGN_ADDRESSES[country])
            name, rate = person["western"], Decimal("0.14")
            person = {
                **person,
                "phone": f"+1415{person['phone'][-7:]}"
                if country == "US"
                else f"+4930{person['phone'][-8:]}",
            }
        lines = []
        # Routed orders ship what is in stock; a partly shipped one also waits for a pre-sale item.
        in_stock = [item for item in skus if not item[0].presale] if state in ROUTED_STATES else skus
        picked = rng.sample(in_stock, rng.choice([1, 1, 2, 2, 3]))
        if state == OrderStatus.PARTIALLY_SHIPPED:
            picked.append(rng.choice([item for item in skus if item[0].presale]))
        for sku, price in picked:
            unit = (price * rate).quantize(Decimal("0.01"))
            lines.append(
                {
                    "sku": sku,
                    "quantity": rng.choice([1, 1, 1, 2, 3]),
                    "unit_price": unit,
                    "discount": Decimal("0.00"),
                    "presale": sku.presale,
                }
            )
        placed_at = timezone.now() - timedelta(minutes=rng.randint(5, 60 * 24 * 45))
        paid = state != OrderStatus.PENDING_PAYMENT and not (
            state in (OrderStatus.ON_HOLD, OrderStatus.CANCELLED) and rng.random() < 0.5
        )
        data = {
            "channel": channel,
            "external_id": _external_id(channel, index),
            "placed_at": placed_at,
            "currency": channel.currency,
            "customer": {"name": name, "phone": person["phone"], "email": person["email"]},
            "shipping_address": {
                "name": name,
                "country": country,
                "province": province,
                "city": city,
                "district": district,
                "line1": line1,
                "postcode": postcode,
                "phone": person["phone"],
            },
            "lines": lines,
            "shipping_fee": Decimal("8.00") * rate if rng.random() < 0.4 else Decimal("0"),
            "discount": Decimal("5.00") * rate if rng.random() < 0.2 else Decimal("0"),
            "platform_commission": (sum(line["unit_price"] for line in lines) * Decimal("0.05")).quantize(
                Decimal("0.01")
            ),
            "paid": paid,
            "paid_at": placed_at + timedelta(minutes=2),
            "priority": rng.choice(["normal"] * 8 + ["vip", "expedite"]),
            "tags": rng.choice([[], [], ["gift"], ["live-stream"], ["618"]]),
            "note": rng.choice(["", "", "请尽快发货", "Please gift wrap"]),
        }
        if state == OrderStatus.CANCELLED:
            data["cancelled"] = True  # the customer cancelled on the platform
        if channel.platform in PROTECTED_RECEIVER_PLATFORMS:
            _mask_receiver(data)
        return data

    def _advance(self, part: list[tuple[Order, str]]) -> None:
        """Take new orders on to their target states: holds first, then the orders to ship are
        routed together (routing.route_orders, the bulk intake's set-based path), then each order's
        parcels travel, one short transaction per step. A step the order's state no longer allows
        (a worker beside us routed or held it first) is skipped. Each order's random draws are
        seeded by the order, so a resumed run chooses as a single run would."""
        # Held on arrival, or cancelled: left as they are.
        part = [(o, s) for o, s in part if o.status not in (OrderStatus.ON_HOLD, OrderStatus.CANCELLED)]
        draws = {order.pk: random.Random(order.pk) for order, _state in part}
        for order, state in part:
            if state == OrderStatus.ON_HOLD:
                self._step(
                    order, services.order_transition, name="hold", reason=draws[order.pk].choice(HOLD_REASONS)
                )
        to_ship = [o.pk for o, s in part if s in ROUTED_STATES and o.status == OrderStatus.PAID]
        try:
            routing.route_orders(to_ship)
        except DomainError as exc:  # the others are routed; that one is left as it is
            self.stdout.write(f"  routing left an order as it is: {exc.message}")
        parcels = _parcels(to_ship)
        sent: set[int] = set()  # a merged parcel travels once, with its first order
        for order, state in part:
            if order.pk in parcels:
                self._fulfil(order, state, [p for p in parcels[order.pk] if p.pk not in sent])
                sent.update(p.pk for p in parcels[order.pk])
            if state == OrderStatus.PAID and draws[order.pk].random() < 0.3:
                lines = list(order.lines.filter(kind=LineKind.GOODS).order_by("line_no"))
                if len(lines) > 1:
                    self._step(
                        order,
                        services.order_cancel_lines,
                        quantities={lines[0].pk: 1},
                        reason=draws[order.pk].choice(CANCEL_REASONS),
                    )
            if draws[order.pk].random() < 0.05:
                self._step(
                    order,
                    services.order_add_note,
                    text="客户来电确认收货地址 / customer confirmed the address",
                )

    def _step(self, order, service, **arguments) -> None:
        try:
            service(order=order, **arguments)
        except TransitionRefused as exc:
            self.stdout.write(f"  {order.number} left as it is: {exc.message}")

    def _fulfil(self, order, state, shipments):
        """Take the order's new parcels as far as the state asks, with plausible times."""
        leaves, arrives = ROUTED_STATES[state]
        try:
            for shipment in shipments if leaves else []:
                self._ship(shipment, order.placed_at, arrives)
            if state == OrderStatus.COMPLETED:
                services.order_transition(order=order, name="complete")
        except TransitionRefused as exc:
            self.stdout.write(f"  {order.number} left as it is: {exc.message}")

    def _ship(self, shipment, placed_at, arrives):
        shipped_at = min(placed_at + timedelta(hours=6), timezone.now())
        carrier = shipment.warehouse.default_carrier
        if shipment.status == ShipmentStatus.CREATED:
            shipment_transition(shipment=shipment, name="send_to_warehouse")
        shipment_transition(shipment=shipment, name="pack")
        tracking = {"carrier": carrier, "tracking_number": f"{carrier.code.upper()}{shipment.pk:010d}"}
        shipment_transition(shipment=shipment, name="ship", args={**tracking, "shipped_at": shipped_at})
        in_transit = min(shipped_at + timedelta(hours=2), timezone.now())
        shipment_transition(shipment=shipment, name="mark_in_transit", args={"at": in_transit})
        if arrives:
            delivered = min(shipped_at + timedelta(days=2), timezone.now())
            shipment_transition(shipment=shipment, name="deliver", args={"at": delivered})


def _parcels(order_ids: list[int]) -> dict[int, list[Shipment]]:
    """The live parcels of these orders, with their warehouse and its carrier, oldest first. A
    merged parcel carries several orders: each of them lists the same instance."""
    pairs = sorted(
        set(
            ShipmentLine.objects.filter(order_line__order_id__in=order_ids)
            .exclude(shipment__status=ShipmentStatus.CANCELLED)
            .values_list("order_line__order_id", "shipment_id")
        ),
        key=lambda pair: pair[1],
    )
    shipments = Shipment.objects.select_related("warehouse__default_carrier").in_bulk({s for _o, s in pairs})
    parcels: dict[int, list[Shipment]] = {}
    for order_id, shipment_id in pairs:
        parcels.setdefault(order_id, []).append(shipments[shipment_id])
    return parcels


def _external_id(channel, index: int) -> str:
    shape = EXTERNAL_ID_FORMATS.get(channel.platform)
    return (
        shape.format(index=100000 + index)
        if shape
        else f"{channel.code.split('-')[0].upper()}-{100000 + index}"
    )


def _mask_receiver(data: dict) -> None:
    """The receiver as JD, Pinduoduo, Douyin and Xiaohongshu send it: name, phone and street
    masked (integrations.protected_data keeps them so; masked text is never an identity)."""
    address = data["shipping_address"]
    name, phone = address["name"], address["phone"]
    masked = {"name": name[:1] + "**", "phone": f"{phone[:3]}****{phone[-4:]}", "address": "****"}
    address.update(name=masked["name"], phone=masked["phone"], line1=masked["address"])
    data["customer"] = {**data["customer"], "name": masked["name"], "phone": masked["phone"], "email": ""}
    data["protected_receiver"] = {
        field: {"masked": text, "cipher": "", "index": ""} for field, text in masked.items()
    }
