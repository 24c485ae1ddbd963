"""Erasure and suppression API (scope admin)."""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from cdp_project.core.errors import FieldProblem, Problem, not_found
from cdp_project.core.pagination import paginate
from cdp_project.core.schema import problem
from cdp_project.core.timestamps import format_utc
from identity.models import Suppression
from identity.normalization import identity_normalize
from tenants.api_base import TenantAPIView
from tenants.permissions import HasAdminScope

from . import reverts, services
from .models import Erasure

PROBLEM = problem()
MAX_REASON = 500
_FIELDS = ("identity", "profileId", "suppress", "reason")


class ErasureInput(serializers.Serializer):
    identity = serializers.DictField(
        child=serializers.CharField(), required=False, help_text="Any identifiers of the customer (normalized first)."
    )
    profileId = serializers.UUIDField(required=False, help_text="A live or merged-away profile id.")
    suppress = serializers.BooleanField(default=True, help_text="Keep the erased identifiers out from now on.")
    reason = serializers.CharField(required=False, max_length=MAX_REASON, help_text='e.g. "ticket 4711"')


class ErasureOutput(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["queued", "running", "succeeded", "failed"])
    requestedAt = serializers.CharField()
    completedAt = serializers.CharField(allow_null=True)
    reason = serializers.CharField()
    suppress = serializers.BooleanField()
    jobId = serializers.CharField(allow_null=True)
    receipt = serializers.DictField(child=serializers.IntegerField(), allow_null=True)


class SuppressionOutput(serializers.Serializer):
    id = serializers.UUIDField()
    type = serializers.CharField()
    createdAt = serializers.SerializerMethodField()
    reason = serializers.CharField()

    def get_createdAt(self, obj: Suppression) -> str:  # noqa: N802
        return format_utc(obj.created_at)


class SuppressionList(serializers.Serializer):
    results = SuppressionOutput(many=True)
    next = serializers.CharField(allow_null=True)


def erasure_body(erasure: Erasure) -> dict[str, Any]:
    done = erasure.status == "succeeded"
    return {
        "id": str(erasure.pk),
        "status": erasure.status,
        "requestedAt": format_utc(erasure.requested_at),
        "completedAt": format_utc(erasure.completed_at) if erasure.completed_at else None,
        "reason": erasure.reason,
        "suppress": erasure.suppress,
        "jobId": erasure.job_id or None,
        "receipt": {kind: int(erasure.receipt.get(kind, 0)) for kind in services.RECEIPT_KINDS} if done else None,
    }


def _parse(tenant: Any, body: dict[str, Any]) -> tuple[dict[str, str] | None, uuid.UUID | None, bool, str]:
    problems = [
        FieldProblem(f"/{name}", "undeclared", f"unknown field {name!r}") for name in body if name not in _FIELDS
    ]
    identity = profile_id = None
    if ("identity" in body) == ("profileId" in body):
        problems.append(FieldProblem("/identity", "required", "give exactly one of identity or profileId"))
    if "identity" in body:
        normalized = identity_normalize(tenant=tenant, identity=body["identity"])
        problems.extend(normalized.problems)
        identity = normalized.values
    if "profileId" in body:
        try:
            profile_id = uuid.UUID(body["profileId"]) if isinstance(body["profileId"], str) else None
        except ValueError:
            profile_id = None
        if profile_id is None:
            problems.append(FieldProblem("/profileId", "type", "profileId must be a profile id (a UUID)"))
    suppress = body.get("suppress", True)
    if not isinstance(suppress, bool):
        problems.append(FieldProblem("/suppress", "type", "suppress must be true or false"))
    reason = body.get("reason", "")
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        problems.append(FieldProblem("/reason", "type", f"reason must be a string of at most {MAX_REASON} characters"))
    if problems:
        only_identity = all(p.pointer.startswith("/identity") for p in problems)
        problem = Problem.INVALID_IDENTITY if only_identity else Problem.VALIDATION_ERROR
        raise problem.error(f"{len(problems)} problem(s) in the erasure request.", problems)
    return identity, profile_id, suppress, reason


class ErasureCreateApi(TenantAPIView):
    permission_classes = [HasAdminScope]

    @extend_schema(
        operation_id="erasures_create",
        request=ErasureInput,
        responses={202: ErasureOutput, 400: PROBLEM, 404: PROBLEM, 422: PROBLEM},
        examples=[
            OpenApiExample("by email", value={"identity": {"EMAIL": "ann@example.com"}, "reason": "ticket 4711"})
        ],
        tags=["data lifecycle"],
        description="Erase a customer (the whole merge family) on the background worker; by default their "
        "identifiers are suppressed so that later data naming them is not stored.",
    )
    def post(self, request: Request) -> Response:
        identity, profile_id, suppress, reason = _parse(self.tenant, self.json_object(request))
        try:
            target = services.erasure_target_find(tenant=self.tenant, identity=identity, profile_id=profile_id)
        except services.ErasureTargetNotFound as missing:
            raise not_found(str(missing))
        erasure = services.erasure_request(
            tenant=self.tenant,
            target_profile_id=target,
            suppress=suppress,
            reason=reason,
            requested_by=f"api key {request.user.key_prefix}",
        )
        response = Response(erasure_body(erasure), status=status.HTTP_202_ACCEPTED)
        response["Location"] = f"/api/v1/erasures/{erasure.pk}"
        return response


class ErasureDetailApi(TenantAPIView):
    permission_classes = [HasAdminScope]

    @extend_schema(operation_id="erasures_get", responses={200: ErasureOutput, 404: PROBLEM}, tags=["data lifecycle"])
    def get(self, request: Request, erasure_id: uuid.UUID) -> Response:
        erasure = Erasure.objects.filter(tenant=self.tenant, pk=erasure_id).first()
        if erasure is None:
            raise not_found(f"No erasure {erasure_id}.")
        return Response(erasure_body(erasure))


class SuppressionListApi(TenantAPIView):
    permission_classes = [HasAdminScope]

    @extend_schema(operation_id="suppressions_list", responses=SuppressionList, tags=["data lifecycle"])
    def get(self, request: Request) -> Response:
        rows = Suppression.objects.filter(tenant=self.tenant)
        return paginate(request, self, rows, SuppressionOutput, ordering="-created_at")


class SuppressionDetailApi(TenantAPIView):
    permission_classes = [HasAdminScope]

    @extend_schema(operation_id="suppressions_delete", responses={204: None, 404: PROBLEM}, tags=["data lifecycle"])
    def delete(self, request: Request, suppression_id: uuid.UUID) -> Response:
        deleted, _ = Suppression.objects.filter(tenant=self.tenant, pk=suppression_id).delete()
        if not deleted:
            raise not_found(f"No suppression {suppression_id}.")
        return Response(status=status.HTTP_204_NO_CONTENT)


class MergeRevertInput(serializers.Serializer):
    dryRun = serializers.BooleanField(default=False, help_text="Compute the same answer and change nothing.")


class MergeRevertMoved(serializers.Serializer):
    identifiers = serializers.ListField(child=serializers.DictField(child=serializers.CharField()))
    events = serializers.IntegerField()
    profileUpdates = serializers.IntegerField()
    channelUpdates = serializers.IntegerField()
    endpoints = serializers.IntegerField()
    participants = serializers.IntegerField()


class MergeRevertOutput(serializers.Serializer):
    mergeId = serializers.IntegerField()
    survivorId = serializers.UUIDField()
    restoredProfileId = serializers.UUIDField()
    dryRun = serializers.BooleanField()
    revertId = serializers.IntegerField(
        allow_null=True, help_text="The revert's merge-ledger entry; null in a dry run."
    )
    moved = MergeRevertMoved()


def revert_body(outcome: reverts.RevertOutcome) -> dict[str, Any]:
    return {
        "mergeId": outcome.merge_id,
        "survivorId": str(outcome.survivor_id),
        "restoredProfileId": str(outcome.restored_id),
        "dryRun": outcome.dry_run,
        "revertId": outcome.revert_id,
        "moved": {"identifiers": outcome.identifiers, **outcome.counts},
    }


class MergeRevertApi(TenantAPIView):
    permission_classes = [HasAdminScope]

    @extend_schema(
        operation_id="merges_revert",
        request=MergeRevertInput,
        responses={200: MergeRevertOutput, 400: PROBLEM, 404: PROBLEM, 409: PROBLEM, 422: PROBLEM},
        examples=[OpenApiExample("preview", value={"dryRun": True})],
        tags=["data lifecycle"],
        description="Undo one merge (an `id` of `GET /api/v1/profiles/{id}/merges`): the merged profile is live "
        "again with what it had, later data goes where its identity resolves now, and the two profiles are "
        "never merged again automatically. `409 merge_not_revertible` names what stands in the way.",
    )
    def post(self, request: Request, merge_id: int) -> Response:
        body = self.json_object(request)
        unknown = sorted(set(body) - {"dryRun"})
        problems = [FieldProblem(f"/{name}", "undeclared", f"unknown field {name!r}") for name in unknown]
        dry_run = body.get("dryRun", False)
        if not isinstance(dry_run, bool):
            problems.append(FieldProblem("/dryRun", "type", "expected a boolean"))
        if problems:
            raise Problem.INVALID_REQUEST.error(f"{len(problems)} problem(s) in the body.", problems)
        outcome = reverts.merge_revert(tenant=self.tenant, merge_id=merge_id, dry_run=dry_run)
        return Response(revert_body(outcome))
