from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = _("Core")

    def ready(self):
        from django.core import checks

        from core.encryption import check_encryption_keys, check_encryption_keys_deployed
        from core.roles import sync_roles_after_migrate

        checks.register(check_encryption_keys, checks.Tags.security)
        checks.register(check_encryption_keys_deployed, checks.Tags.security, deploy=True)

        # Groups are set-up data, not domain logic: keep them in step with the code after migrate.
        post_migrate.connect(sync_roles_after_migrate, sender=self)
