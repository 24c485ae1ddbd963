from django.apps import AppConfig


class IngestConfig(AppConfig):
    name = "ingest"
    verbose_name = "Ingest"

    def ready(self) -> None:
        from contracts.types import JOB_DERIVED_BACKFILL, JOB_DERIVED_RECOMPUTE
        from jobs.registry import register as register_job
        from profiles.extensions import register_profile_admin_section
        from profiles.merging import register_merge_handler
        from tenants.write_keys import register_source_exists

        from .admin_sections import derived_section, recent_events_section, rejected_hint_section
        from .derived import derived_backfill_job, derived_recompute_job
        from .merging import records_move_on_merge
        from .quarantine import PRUNE_JOB, REPLAY_JOB, quarantine_prune_job, rejections_replay_job
        from .selectors import source_exists

        register_merge_handler("ingest.records", records_move_on_merge)
        register_profile_admin_section("ingest.1_derived", derived_section)
        register_profile_admin_section("ingest.2_events", recent_events_section)
        register_profile_admin_section("ingest.3_violations", rejected_hint_section)
        register_job(REPLAY_JOB, rejections_replay_job)
        register_job(PRUNE_JOB, quarantine_prune_job)
        register_source_exists(lambda tenant, key: source_exists(tenant=tenant, key=key))
        register_job(JOB_DERIVED_BACKFILL, derived_backfill_job)
        register_job(JOB_DERIVED_RECOMPUTE, derived_recompute_job)
