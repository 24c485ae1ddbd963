from django.urls import path

from . import apis

urlpatterns = [
    path("erasures", apis.ErasureCreateApi.as_view(), name="erasure-create"),
    path("erasures/<uuid:erasure_id>", apis.ErasureDetailApi.as_view(), name="erasure-detail"),
    path("suppressions", apis.SuppressionListApi.as_view(), name="suppression-list"),
    path("merges/<int:merge_id>/revert", apis.MergeRevertApi.as_view(), name="merge-revert"),
    path("suppressions/<uuid:suppression_id>", apis.SuppressionDetailApi.as_view(), name="suppression-detail"),
]
