from django.urls import path

from . import apis

urlpatterns = [
    path("profiles", apis.ProfileLookupApi.as_view(), name="profile-lookup"),
]
