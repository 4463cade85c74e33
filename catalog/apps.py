from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CatalogConfig(AppConfig):
    """Sales channels (Channel, Platform).

    Channel declares `app_label = "integrations"`: it was born in the integrations app, so its
    table (`integrations_channel`), migrations and permission names (`integrations.view_channel`)
    stay as they were, while every app below integrations can now reach it without importing
    upward."""

    name = "catalog"
    verbose_name = _("Sales channels")
