from django.urls import path

from . import apis, quarantine_apis

urlpatterns = [
    path("rejections", quarantine_apis.RejectionListApi.as_view(), name="rejection-list"),
    path("rejections/replay", quarantine_apis.RejectionReplayApi.as_view(), name="rejection-replay"),
    path("rejections/discovered", quarantine_apis.RejectionDiscoveredApi.as_view(), name="rejection-discovered"),
    path("events", apis.EventIngestApi.as_view(), name="events-ingest"),
    path("events/batch", apis.EventBatchApi.as_view(), name="events-batch"),
    path("events/validate", apis.EventValidateApi.as_view(), name="events-validate"),
    path("profile-updates", apis.ProfileUpdateIngestApi.as_view(), name="profile-updates"),
    path("profile-updates/batch", apis.ProfileUpdateBatchApi.as_view(), name="profile-updates-batch"),
    path("channel-updates", apis.ChannelUpdateIngestApi.as_view(), name="channel-updates"),
    path("channel-updates/batch", apis.ChannelUpdateBatchApi.as_view(), name="channel-updates-batch"),
    path("profiles/<uuid:profile_id>/events", apis.ProfileEventsApi.as_view(), name="profile-events"),
    path("sources", apis.SourceListApi.as_view(), name="source-list"),
    path("sources/<str:key>", apis.SourceDetailApi.as_view(), name="source-detail"),
]
