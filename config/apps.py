from django.apps import AppConfig


class ConduitConfig(AppConfig):
    """The last installed app: once every app is loaded, wire them together (config/registry.py)."""

    name = "config"
    label = "conduit"
    verbose_name = "Conduit"

    def ready(self):
        from config import preflight, registry  # noqa: F401  (preflight registers check --deploy's E001)

        registry.install()
