from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The shared kernel as an app: only for what must hook into Django at start."""

    name = "cdp_project.core"
    label = "cdp_core"
    verbose_name = "Shared kernel"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from .compiled import generic_plans_set
        from .pgtypes import utc_timestamps_register

        connection_created.connect(utc_timestamps_register, dispatch_uid="cdp_core.utc_timestamps")
        connection_created.connect(generic_plans_set, dispatch_uid="cdp_core.generic_plans")
