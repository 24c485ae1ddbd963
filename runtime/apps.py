from django.apps import AppConfig


class RuntimeConfig(AppConfig):
    name = "runtime"
    verbose_name = "Campaign runtime"

    def ready(self) -> None:
        from profiles.merging import register_merge_handler

        from . import authentication  # noqa: F401  (registers the RuntimeJWT OpenAPI scheme)
        from .services import participants_move_on_merge

        register_merge_handler("runtime.participants", participants_move_on_merge)
