"""/v1/: the Segment-compatible ingress, at the root as Segment's SDKs expect it."""

from django.urls import path

from . import segment_apis

urlpatterns = [
    path("batch", segment_apis.SegmentBatchApi.as_view(), name="segment-batch"),
    *(
        path(message_type, view.as_view(), name=f"segment-{message_type}")
        for message_type, view in segment_apis.SINGLE_APIS.items()
    ),
]
