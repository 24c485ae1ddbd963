"""The project's URLs plus views that exist only to exercise error handling."""

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from cdp_project.urls import handler404, handler500  # noqa: F401
from cdp_project.urls import urlpatterns as project_urlpatterns


class BoomApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request):
        raise RuntimeError("secret internal detail: password=hunter2")


urlpatterns = [path("api/v1/_boom", BoomApi.as_view()), *project_urlpatterns]
