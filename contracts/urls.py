from django.urls import path

from . import apis

urlpatterns = [
    path("event-types", apis.EventTypeListApi.as_view(), name="event-type-list"),
    path("event-types/<str:name>", apis.EventTypeDetailApi.as_view(), name="event-type-detail"),
    path("attribute-definitions", apis.AttributeDefinitionListApi.as_view(), name="attribute-definition-list"),
    path(
        "attribute-definitions/<str:name>",
        apis.AttributeDefinitionDetailApi.as_view(),
        name="attribute-definition-detail",
    ),
    path("derived-attributes", apis.DerivedAttributeListApi.as_view(), name="derived-attribute-list"),
    path("derived-attributes/<str:name>", apis.DerivedAttributeDetailApi.as_view(), name="derived-attribute-detail"),
    path(
        "derived-attributes/<str:name>/recompute",
        apis.DerivedAttributeRecomputeApi.as_view(),
        name="derived-attribute-recompute",
    ),
]
