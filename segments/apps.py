from django.apps import AppConfig


class SegmentsConfig(AppConfig):
    name = "segments"
    verbose_name = "Segments and exports"

    def ready(self) -> None:
        from contracts.hooks import register_contract_dependents

        from .services import segment_contract_dependents

        register_contract_dependents("segments", segment_contract_dependents)
