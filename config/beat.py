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
        task="inventory.tasks.suggest_replenishment",
        crontab={"minute": "0", "hour": "20"},  # 04:00 Asia/Shanghai
    ),
    Schedule(
        name="orders: complete delivered orders past the return window",
        task="orders.tasks.auto_complete_delivered_orders",
        crontab={"minute": "15", "hour": "*/1"},
    ),
    Schedule(
        name="integrations: poll channels for updated orders",
        task="integrations.tasks.sync_channels",
        every_seconds=60,
    ),
    Schedule(
        name="core: deliver the outbox",
        task="core.tasks.sweep_outbox",
        every_seconds=30,
    ),
]
