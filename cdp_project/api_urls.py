"""/api/v1/: each app contributes its own urls module."""

from django.urls import include, path

urlpatterns = [
    path("", include("contracts.urls")),
    path("", include("jobs.urls")),
    path("", include("identity.urls")),
    path("", include("profiles.urls")),
    path("", include("ingest.urls")),
    path("", include("runtime.urls")),
    path("", include("segments.urls")),
    path("", include("privacy.urls")),
]
