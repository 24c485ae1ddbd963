from django.urls import path

from . import apis

urlpatterns = [
    path("sources", apis.SourceListApi.as_view(), name="source-list"),
    path("sources/<str:key>", apis.SourceDetailApi.as_view(), name="source-detail"),
]
