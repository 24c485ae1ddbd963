from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "privacy"
    verbose_name = "Erasure and suppression"

    def ready(self) -> None:
        from jobs.registry import register

        from .services import JOB_KIND, erasure_job

        register(JOB_KIND, erasure_job)
