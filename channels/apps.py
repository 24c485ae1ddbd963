from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    name = "channels"
    verbose_name = "Channels and consent"

    def ready(self) -> None:
        from profiles.extensions import register_profile_admin_section, register_profile_section
        from profiles.merging import register_merge_handler

        from .admin import endpoints_admin_section, history_admin_section, readiness_admin_section
        from .selectors import profile_endpoints_public, profile_readiness_public
        from .services import endpoints_move_on_merge

        register_merge_handler("channels.endpoints", endpoints_move_on_merge)
        register_profile_section("endpoints", profile_endpoints_public)
        register_profile_section("readiness", profile_readiness_public)
        # Sections show in key order: readiness (the answer) first, then the endpoints, then their history.
        register_profile_admin_section("channels.1_readiness", readiness_admin_section)
        register_profile_admin_section("channels.2_endpoints", endpoints_admin_section)
        register_profile_admin_section("channels.3_history", history_admin_section)
