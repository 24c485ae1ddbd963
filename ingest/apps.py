from django.apps import AppConfig


class IngestConfig(AppConfig):
    name = "ingest"
    verbose_name = "Ingest"

    def ready(self) -> None:
        from contracts.hooks import register_derived_created_hook
        from profiles.merging import register_merge_handler

        from .derived import derived_backfill_on_create
        from .merging import records_move_on_merge

        register_merge_handler("ingest.records", records_move_on_merge)
        register_derived_created_hook("ingest.derived_backfill", derived_backfill_on_create)
