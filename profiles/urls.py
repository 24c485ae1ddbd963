from django.urls import path

from . import apis

urlpatterns = [
    path("profiles/<uuid:profile_id>", apis.ProfileDetailApi.as_view(), name="profile-detail"),
    path("profiles/<uuid:profile_id>/merges", apis.ProfileMergeListApi.as_view(), name="profile-merges"),
]
