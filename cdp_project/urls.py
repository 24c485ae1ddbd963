from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import health, metrics

handler404 = "cdp_project.core.problems.handler404"
handler500 = "cdp_project.core.problems.handler500"

admin.site.site_header = "ResultFly CDP"
admin.site.site_title = "ResultFly CDP admin"
admin.site.index_title = "Operations console"

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include("cdp_project.api_urls")),
    path("v1/", include("ingest.segment_urls")),  # the Segment-compatible ingress
    path("admin/", admin.site.urls),
]
