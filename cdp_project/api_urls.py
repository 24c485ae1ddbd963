"""/api/v1/: each app contributes its own urls module. No two apps' paths overlap, so the order only
decides how many patterns a request is tried against: the runtime's first, as a campaign runtime
calls its two endpoints on every step of every participant's flow."""

from django.urls import include, path

urlpatterns = [
    path("", include("runtime.urls")),
    path("", include("contracts.urls")),
    path("", include("jobs.urls")),
    path("", include("identity.urls")),
    path("", include("profiles.urls")),
    path("", include("ingest.urls")),
    path("", include("segments.urls")),
    path("", include("privacy.urls")),
]
