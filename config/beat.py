"""Every periodic job, by name. `manage.py setup_periodic_tasks` writes them to
django-celery-beat with update_or_create by name: re-running it resets these jobs to the code's
schedule and leaves any task an operator added in the admin alone."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Schedule:
    name: str
    task: str
    every_seconds: int | None = None
    crontab: dict = field(default_factory=dict)  # minute/hour/day_of_week/… in CELERY_TIMEZONE


PERIODIC_TASKS = [
    Schedule(
        name="inventory: expire unpaid reservations",
        task="inventory.tasks.expire_reservations",
        every_seconds=60,
    ),
    Schedule(
        name="inventory: push channel stock (safety net for missed pushes)",
        task="inventory.tasks.push_stock",
        every_seconds=300,
    ),
    Schedule(
        name="inventory: reconcile balances with the ledger",
        task="inventory.tasks.reconcile_stock",
        crontab={"minute": "30", "hour": "19"},  # 03:30 Asia/Shanghai
    ),
    Schedule(
        name="inventory: replenishment suggestions",
        task="orders.tasks.suggest_replenishment",
        crontab={"minute": "0", "hour": "20"},  # 04:00 Asia/Shanghai
    ),
    Schedule(
        name="orders: complete delivered orders past the return window",
        task="orders.tasks.auto_complete_delivered_orders",
        crontab={"minute": "15", "hour": "*/1"},
    ),
    Schedule(
        name="orders: refresh customer stats a lost task left stale",
        task="orders.tasks.refresh_stale_customer_stats",
        every_seconds=900,
    ),
    Schedule(
        name="b2b: release scheduled deliveries that are due",
        task="b2b.tasks.release_due_deliveries",
        every_seconds=600,
    ),
    Schedule(
        name="integrations: poll channels for updated orders",
        task="integrations.tasks.sync_channels",
        every_seconds=60,
    ),
    Schedule(
        name="integrations: poll platform after-sales requests into RMAs",
        task="integrations.tasks.sync_after_sales",
        every_seconds=300,
    ),
    Schedule(
        name="integrations: consume Taobao push messages (TMC) and read the trades they name",
        task="integrations.tasks.sync_taobao_messages",
        every_seconds=30,
    ),
    Schedule(
        name="integrations: compare cloud-warehouse stock with ours",
        task="integrations.wms.tasks.compare_wms_stock",
        every_seconds=1800,
    ),
    Schedule(
        name="finance: revenue lines for orders paid on the platform",
        task="finance.tasks.backfill_revenue",
        every_seconds=900,
    ),
    Schedule(
        # wechatpay-java's auto certificate config downloads every 60 minutes; a new certificate
        # is published before the old one stops signing.
        name="finance: WeChat Pay platform certificates",
        task="finance.tasks.refresh_wechatpay_certificates",
        every_seconds=3600,
    ),
    Schedule(
        # Issuing is asynchronous at the provider (Nuonuo: 开票中 → 开票完成); red-letters too.
        name="finance: e-invoice results from the provider",
        task="finance.tasks.poll_invoices",
        every_seconds=120,
    ),
    Schedule(
        name="finance: nightly reconciliation of yesterday's month",
        task="finance.tasks.reconcile_nightly",
        crontab={"minute": "0", "hour": "19"},  # 03:00 Asia/Shanghai
    ),
    Schedule(
        name="finance: ECB exchange rates (published around 16:00 CET on working days)",
        task="finance.tasks.fetch_exchange_rates",
        crontab={"minute": "30", "hour": "15"},  # 16:30 CET / 17:30 CEST, 23:30 Asia/Shanghai
    ),
    Schedule(
        name="finance: fix the exchange rate of payments recorded before it was known",
        task="finance.tasks.fill_payment_rates",
        every_seconds=3600,
    ),
    Schedule(
        name="fulfilment: route paid orders the on-commit task missed",
        task="fulfilment.route_missed_paid_orders",
        every_seconds=60,
    ),
    Schedule(
        name="fulfilment: route pre-sale lines whose stock arrived",
        task="fulfilment.route_presale_waiting",
        every_seconds=300,
    ),
    Schedule(
        name="fulfilment: send shipments whose merge window passed",
        task="fulfilment.send_merged_shipments",
        every_seconds=60,
    ),
    Schedule(
        name="fulfilment: no-first-scan watch",
        task="fulfilment.watch_tasks.watch_first_scan",
        every_seconds=60,
    ),
    Schedule(
        name="fulfilment: SLA breaches and escalations",
        task="fulfilment.watch_tasks.evaluate_sla",
        every_seconds=60,
    ),
    Schedule(
        name="fulfilment: send new alerts to the staff's SMS and WeCom routes",
        task="fulfilment.watch_tasks.dispatch_staff_alerts",
        every_seconds=60,
    ),
    Schedule(
        name="carriers: poll tracking not pushed for a while",
        task="integrations.carriers.tasks.poll_tracking",
        every_seconds=900,
    ),
    Schedule(
        name="orders: refresh the dashboard rollups",
        task="dashboard.tasks.refresh_dashboard_rollups",
        every_seconds=60,
    ),
    Schedule(
        name="returns: alert on returned goods waiting too long for their re-check",
        task="returns.tasks.alert_overdue_rechecks",
        every_seconds=300,
    ),
    Schedule(
        name="returns: close returns whose refund or exchange is settled",
        task="returns.tasks.close_settled_returns",
        every_seconds=900,
    ),
    Schedule(
        name="core: deliver the outbox",
        task="core.tasks.sweep_outbox",
        every_seconds=30,
    ),
    Schedule(
        name="ops: beat's heartbeat (the health check reads its age)",
        task="ops.beat_heartbeat",
        every_seconds=30,
    ),
    Schedule(
        name="ops: health watch (alerts on retry rate, queues, beat, sync lag, lock waits)",
        task="ops.health_watch",
        every_seconds=60,
    ),
    Schedule(
        name="integrations: hand stored messages whose task never ran or died to a worker again",
        task="integrations.tasks.sweep_inbound_messages",
        every_seconds=60,
    ),
    Schedule(
        name="finance: hand imports and reconciliation runs left waiting to a worker again",
        task="finance.tasks.sweep_finance_handoffs",
        every_seconds=60,
    ),
    Schedule(
        name="inventory: hand count sheets left waiting to a worker again",
        task="inventory.tasks.sweep_cycle_count_uploads",
        every_seconds=60,
    ),
    Schedule(
        name="integrations: hand order files left waiting to a worker again; drop day-old uploads",
        task="integrations.tasks.sweep_order_uploads",
        every_seconds=60,
    ),
    Schedule(
        name="integrations: hand re-pulls waiting for their channel (or a worker) to a worker again",
        task="integrations.tasks.sweep_repulls",
        every_seconds=60,
    ),
]
