from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "identity"
    verbose_name = "Identity"

    def ready(self) -> None:
        from profiles.extensions import register_profile_section

        from .selectors import profile_identifiers_section

        register_profile_section("identifiers", profile_identifiers_section)
