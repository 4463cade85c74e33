from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = _("Core")

    def ready(self):
        from django.core import checks

        import core.any_lookup  # noqa: F401 - registers field__any on every field
        from core.encryption import check_encryption_keys, check_encryption_keys_deployed
        from core.pg_loaders import use_c_loaders
        from core.roles import sync_roles_after_migrate
        from core.sqlite_limits import use_the_library_variable_limit

        checks.register(check_encryption_keys, checks.Tags.security)
        checks.register(check_encryption_keys_deployed, checks.Tags.security, deploy=True)

        # Groups are set-up data, not domain logic: keep them in step with the code after migrate.
        post_migrate.connect(sync_roles_after_migrate, sender=self)
        connection_created.connect(use_the_library_variable_limit, dispatch_uid="sqlite-variable-limit")
        connection_created.connect(use_c_loaders, dispatch_uid="postgresql-c-loaders")
        self._forget_cached_permissions_on_change()

    @staticmethod
    def _forget_cached_permissions_on_change():
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group, Permission

        from core.permission_cache import permissions_changed

        user = get_user_model()
        for through in (user.groups.through, user.user_permissions.through, Group.permissions.through):
            m2m_changed.connect(permissions_changed, sender=through, dispatch_uid=f"permissions:{through}")
        for model in (user, Group, Permission):
            post_save.connect(permissions_changed, sender=model, dispatch_uid=f"permissions-save:{model}")
            post_delete.connect(permissions_changed, sender=model, dispatch_uid=f"permissions-delete:{model}")
