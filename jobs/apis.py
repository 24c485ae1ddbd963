"""Jobs API (scope admin): the state of one background job."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from tenants.api_base import TenantAPIView
from tenants.permissions import HasAdminScope

from . import selectors
from .models import Job

TAGS = ["jobs"]


class JobProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField(source="progress_done")
    total = serializers.IntegerField(source="progress_total", help_text="0 while not yet known.")


class JobSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.CharField()
    status = serializers.ChoiceField(choices=Job.Status.choices)
    progress = JobProgressSerializer(source="*")
    result = serializers.JSONField(allow_null=True)
    error = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at")
    startedAt = serializers.DateTimeField(source="started_at", allow_null=True)
    finishedAt = serializers.DateTimeField(source="finished_at", allow_null=True)

    def get_error(self, job: Job) -> str | None:
        """The last error's message (also while a retry is pending); null when none."""
        return job.error or None


def job_accepted(job: Job) -> Response:
    """202 with the queued job and `Location: /api/v1/jobs/{id}`: how every API that starts a
    job answers."""
    return Response(
        JobSerializer(job).data, status=status.HTTP_202_ACCEPTED, headers={"Location": f"/api/v1/jobs/{job.pk}"}
    )


class JobDetailApi(TenantAPIView):
    permission_classes = [HasAdminScope]

    @extend_schema(operation_id="jobs_get", responses=JobSerializer, tags=TAGS)
    def get(self, request: Request, job_id: str) -> Response:
        return Response(JobSerializer(selectors.job_get(tenant_id=self.tenant.pk, job_id=job_id)).data)
