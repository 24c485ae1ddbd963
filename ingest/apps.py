from django.apps import AppConfig


class IngestConfig(AppConfig):
    name = "ingest"
    verbose_name = "Ingest"

    def ready(self) -> None:
        from contracts.models import JOB_DERIVED_BACKFILL, JOB_DERIVED_RECOMPUTE
        from jobs.registry import register as register_job
        from profiles.extensions import register_profile_admin_section
        from profiles.merging import register_merge_handler

        from .admin_sections import derived_section, recent_events_section, rejected_hint_section
        from .derived import derived_backfill_job, derived_recompute_job
        from .merging import records_move_on_merge

        register_merge_handler("ingest.records", records_move_on_merge)
        register_profile_admin_section("ingest.1_derived", derived_section)
        register_profile_admin_section("ingest.2_events", recent_events_section)
        register_profile_admin_section("ingest.3_violations", rejected_hint_section)
        register_job(JOB_DERIVED_BACKFILL, derived_backfill_job)
        register_job(JOB_DERIVED_RECOMPUTE, derived_recompute_job)
