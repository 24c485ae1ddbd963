from django.urls import path

from . import apis

urlpatterns = [
    path("campaigns", apis.CampaignListApi.as_view(), name="campaign-list"),
    path("campaigns/<str:key>", apis.CampaignDetailApi.as_view(), name="campaign-detail"),
    path("runtime/sessions", apis.RuntimeSessionApi.as_view(), name="runtime-sessions"),
    path("runtime/context", apis.RuntimeContextApi.as_view(), name="runtime-context"),
    path("runtime/variables", apis.RuntimeVariablesApi.as_view(), name="runtime-variables"),
]
