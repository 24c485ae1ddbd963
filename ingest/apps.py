from django.apps import AppConfig


class IngestConfig(AppConfig):
    name = "ingest"
    verbose_name = "Ingest"

    def ready(self) -> None:
        from profiles.merging import register_merge_handler

        from .merging import records_move_on_merge

        register_merge_handler("ingest.records", records_move_on_merge)
