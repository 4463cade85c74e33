from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DeskConfig(AppConfig):
    """The operations desk's shared screens: start page and its queues, navigation, global
    search, sign-in, and the commands that set a whole installation up (demo data, beat
    schedule). It sits above every domain app because it summarises them all."""

    name = "desk"
    verbose_name = _("Desk")
