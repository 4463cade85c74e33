from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OpsConfig(AppConfig):
    """Operational health: the health endpoint, Celery task outcomes, beat's heartbeat, queue
    depths and database backlogs, lock waits, sync lag and transition latency, on a desk page and
    as alerts (the health watch). A screen over every app, so it sits in the screens layer."""

    name = "ops"
    verbose_name = _("Operations")
