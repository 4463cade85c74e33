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
        name="orders: complete delivered orders past the return window",
        task="orders.tasks.auto_complete_delivered_orders",
        crontab={"minute": "15", "hour": "*/1"},
    ),
]
