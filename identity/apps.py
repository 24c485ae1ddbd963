from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "identity"
    verbose_name = "Identity"

    def ready(self) -> None:
        from cdp_project.core.retries import retryable_unique_register

        from .models import IDENTIFIER_UNIQUE_CONSTRAINT

        # Two requests inserting the same identifier at once: the retry finds it and uses it.
        retryable_unique_register(
            constraint=IDENTIFIER_UNIQUE_CONSTRAINT,
            sqlite_columns="identity_identifier.tenant_id, identity_identifier.type, identity_identifier.value",
        )
