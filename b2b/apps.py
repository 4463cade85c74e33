from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class B2bConfig(AppConfig):
    """Business customers: accounts with credit terms and price lists, contracts that need
    approval before they reserve stock, and delivery schedules released as orders when due."""

    name = "b2b"
    verbose_name = _("B2B")
