from django.urls import path

from . import apis

urlpatterns = [
    path("segments", apis.SegmentListApi.as_view(), name="segments"),
    path("segments/<str:key>", apis.SegmentDetailApi.as_view(), name="segment"),
    path("segments/<str:key>/members", apis.SegmentMembersApi.as_view(), name="segment-members"),
    path("segments/<str:key>/export", apis.SegmentExportApi.as_view(), name="segment-export"),
    path("segments/<str:key>/exports", apis.SegmentExportJobApi.as_view(), name="segment-export-job"),
    path("exports/<str:job_id>/download", apis.ExportDownloadApi.as_view(), name="export-download"),
]
