from django.apps import AppConfig


class SegmentsConfig(AppConfig):
    name = "segments"
    verbose_name = "Segments and exports"

    def ready(self) -> None:
        from contracts.hooks import register_contract_dependents
        from jobs.registry import register as register_job

        from .export_jobs import JOB_SEGMENT_EXPORT, segment_export_job
        from .services import segment_contract_dependents

        register_contract_dependents("segments", segment_contract_dependents)
        register_job(JOB_SEGMENT_EXPORT, segment_export_job)
