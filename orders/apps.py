from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = _("Orders")

    def ready(self):
        # Celery tasks and outbox handlers outside orders.tasks register on import.
        from orders.fulfilment import notifications, tasks, watch_tasks  # noqa: F401
