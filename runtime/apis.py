"""Runtime API: campaigns (scope admin), runtime sessions (scope runtime) and the two
endpoints a campaign runtime may call with its Bearer token (context and variables).

On the token endpoints tenant, campaign and participant come only from the token: no
URL, query or body field names any of them, and a body that tries is refused.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cdp_project import lean_gets
from cdp_project.core.compiled import reads_unchecked
from cdp_project.core.errors import FieldProblem, Problem, pointer
from cdp_project.core.pagination import paginate
from cdp_project.core.timestamps import format_utc
from tenants.api_base import TenantAPIView
from tenants.permissions import HasAdminScope, HasRuntimeScope

from . import selectors, services, specs
from .authentication import RuntimePrincipal, RuntimeTokenAuthentication, bearer_claims
from .specs import CampaignSerializer, CampaignUpdateSerializer
from .tokens import TokenClaims

PROBLEM = OpenApiResponse(description="RFC 9457 problem (application/problem+json)")

# --- campaigns (admin) --------------------------------------------------------------------


class CampaignListSerializer(serializers.Serializer):
    results = CampaignSerializer(many=True)
    next = serializers.URLField(allow_null=True)


class CampaignListApi(TenantAPIView):
    permission_classes = [HasAdminScope]

    @extend_schema(operation_id="campaigns_list", responses=CampaignListSerializer, tags=["administration"])
    def get(self, request: Request) -> Response:
        return paginate(
            request, self, selectors.campaign_queryset(tenant=self.tenant), CampaignSerializer, ordering="key"
        )

    @extend_schema(
        operation_id="campaigns_create",
        request=CampaignSerializer,
        responses={201: CampaignSerializer, 409: PROBLEM, 422: PROBLEM},
        tags=["administration"],
    )
    def post(self, request: Request) -> Response:
        parsed = specs.campaign_parse(self.json_object(request))
        assert parsed.key is not None and parsed.name is not None
        services.campaign_create(
            tenant=self.tenant,
            key=parsed.key,
            name=parsed.name,
            active=bool(parsed.active),
            variables=parsed.variables or (),
        )
        campaign = selectors.campaign_get(tenant=self.tenant, key=parsed.key)
        return Response(CampaignSerializer(campaign).data, status=status.HTTP_201_CREATED)


class CampaignDetailApi(TenantAPIView):
    permission_classes = [HasAdminScope]

    @extend_schema(
        operation_id="campaigns_get", responses={200: CampaignSerializer, 404: PROBLEM}, tags=["administration"]
    )
    def get(self, request: Request, key: str) -> Response:
        return Response(CampaignSerializer(selectors.campaign_get(tenant=self.tenant, key=key)).data)

    @extend_schema(
        operation_id="campaigns_update",
        request=CampaignUpdateSerializer,
        responses={200: CampaignSerializer, 404: PROBLEM, 422: PROBLEM},
        tags=["administration"],
    )
    def patch(self, request: Request, key: str) -> Response:
        campaign = selectors.campaign_get(tenant=self.tenant, key=key)
        parsed = specs.campaign_parse(self.json_object(request), key=key)
        services.campaign_update(campaign=campaign, name=parsed.name, active=parsed.active, variables=parsed.variables)
        return Response(CampaignSerializer(selectors.campaign_get(tenant=self.tenant, key=key)).data)


# --- sessions (runtime scope) -------------------------------------------------------------


class RuntimeSessionIdentity(serializers.Serializer):
    EXTERNAL = serializers.CharField(required=False)
    EMAIL = serializers.CharField(required=False)
    PHONE = serializers.CharField(required=False)
    DEVICE_KEY = serializers.CharField(required=False)


SESSION_FIELDS = ("campaign", "identity", "profileId")


class RuntimeSessionInputSerializer(serializers.Serializer):
    campaign = serializers.CharField(max_length=100)
    identity = serializers.DictField(
        required=False, help_text='Looked up, never created: {"EXTERNAL": "cust-42"}. Give this or profileId.'
    )
    profileId = serializers.UUIDField(required=False, help_text="A merged-away id leads to the survivor.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(self.initial_data) - set(SESSION_FIELDS))
        if unknown:
            raise serializers.ValidationError(
                {name: serializers.ErrorDetail(f"Unknown field {name!r}.", code="unknown_field") for name in unknown}
            )
        if ("identity" in attrs) == ("profileId" in attrs):
            raise serializers.ValidationError(
                {"identity": serializers.ErrorDetail("Give exactly one of identity and profileId.", code="required")}
            )
        return attrs


class RuntimeSessionInputSchemaSerializer(serializers.Serializer):
    campaign = serializers.CharField()
    identity = RuntimeSessionIdentity(required=False)
    profileId = serializers.UUIDField(required=False)


class RuntimeSessionOutputSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="HS256 JWT; send as 'Authorization: Bearer <token>'.")
    expiresAt = serializers.CharField()
    participantId = serializers.UUIDField()
    profileId = serializers.UUIDField()


class RuntimeSessionApi(TenantAPIView):
    permission_classes = [HasRuntimeScope]

    @extend_schema(
        operation_id="runtime_sessions_create",
        request=RuntimeSessionInputSchemaSerializer,
        responses={201: RuntimeSessionOutputSerializer, 404: PROBLEM, 422: PROBLEM},
        examples=[
            OpenApiExample(
                "by identity", value={"campaign": "spring-quiz", "identity": {"EXTERNAL": "cust-42"}}, request_only=True
            )
        ],
        tags=["runtime"],
        description=(
            "Mint a short-lived runtime token for one participant of one active campaign; the participant "
            "is created on first use. The profile is looked up (never created) by identity or by id."
        ),
    )
    def post(self, request: Request) -> Response:
        body = RuntimeSessionInputSerializer(data=self.json_object(request))
        body.is_valid(raise_exception=True)
        data = body.validated_data
        session = services.runtime_session_create(
            tenant=self.tenant,
            campaign_key=data["campaign"],
            identity=data.get("identity"),
            profile_id=data.get("profileId"),
        )
        output = {
            "token": session.token,
            "expiresAt": format_utc(session.claims.expires_at),
            "participantId": str(session.participant.pk),
            "profileId": str(session.participant.profile_id),
        }
        return Response(output, status=status.HTTP_201_CREATED)


# --- the runtime's own endpoints (Bearer token) ---------------------------------------------


class IsRuntimeParticipant(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.user, RuntimePrincipal)


# The lean path answers only requests that DRF would answer 200 with JSON: a GET with no query
# (`?format=` chooses a renderer) that accepts JSON. Anything else takes the full DRF path.
LEAN_ACCEPT = ("*/*", "application/json")


class RuntimeAPIView(APIView):
    """A runtime-token endpoint: only RuntimeTokenAuthentication, so an API key is 401.

    A runtime calls these on every step of a flow, so a plain GET with a good token is answered
    on a lean path (`lean_body`): the token's claims, its reads in one round trip and the body
    rendered as DRF renders it, with the same headers, skipping DRF's request wrapping, content
    negotiation, authentication and permission classes and throttles (none of which has anything
    to say about such a request). The web process answers these GETs even before Django's
    handler and middleware (`cdp_project.lean_gets.LeanGets`, which calls `lean_body` and
    `lean_accepts` on one instance of the view shared by every thread: they keep nothing on
    `self`). Every other request, and every refusal (an expired, invalid or revoked
    token, a participant combined away, an inactive campaign, a database that cannot be
    reached), goes the full DRF path, which answers it as it always has."""

    authentication_classes = [RuntimeTokenAuthentication]
    permission_classes = [IsRuntimeParticipant]
    lean_content_type = JSONRenderer.media_type

    def lean_answer(self, claims: TokenClaims) -> Any | None:
        """The body of a 200 for this token, or None to let the full path answer."""
        return None

    @staticmethod
    def lean_accepts(accept: str | None) -> bool:
        """Whether a GET with this Accept header (None: none sent) gets the lean path's JSON."""
        return accept is None or accept in LEAN_ACCEPT

    def lean_body(self, authorization: str | None) -> bytes | None:
        """The JSON body of a 200 to a plain GET with this Authorization header (its text), or
        None to let the full path answer."""
        claims = bearer_claims(authorization)
        body = reads_unchecked(lambda: self.lean_answer(claims)) if claims is not None else None
        return None if body is None else JSONRenderer().render(body)

    def lean_request(self, request: HttpRequest) -> bool:
        return (
            request.method == "GET"
            and not request.META.get("QUERY_STRING")
            and self.lean_accepts(request.META.get("HTTP_ACCEPT"))
            and not getattr(request, "scope", {}).get(lean_gets.TRIED)  # the web process tried it already
        )

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if self.lean_request(request) and (body := self.lean_body(request.META.get("HTTP_AUTHORIZATION"))) is not None:
            response = HttpResponse(body, content_type=self.lean_content_type)
            response["Allow"] = ", ".join(self.allowed_methods)  # as DRF's finalize_response
            return response
        return super().dispatch(request, *args, **kwargs)

    @property
    def principal(self) -> RuntimePrincipal:
        principal = self.request.user
        assert isinstance(principal, RuntimePrincipal), "permission classes must run first"
        return principal


class RuntimeContextParticipant(serializers.Serializer):
    id = serializers.UUIDField()
    profileId = serializers.UUIDField()


class RuntimeContextCampaign(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()


class RuntimeContextProfile(serializers.Serializer):
    attributes = serializers.DictField(child=serializers.JSONField())
    derived = serializers.DictField(child=serializers.JSONField(), help_text="Only ready derived attributes.")
    derivedStatus = serializers.DictField(
        child=serializers.ChoiceField(choices=["ready", "backfilling"]),
        help_text="Every derived attribute: ready, or backfilling (its value is left out of derived meanwhile).",
    )


class RuntimeContextSerializer(serializers.Serializer):
    participant = RuntimeContextParticipant()
    campaign = RuntimeContextCampaign()
    profile = RuntimeContextProfile()
    channels = serializers.DictField(child=serializers.DictField(), help_text='{"EMAIL": {"ready": true}, ...}')
    variables = serializers.DictField(child=serializers.JSONField(), help_text="every variable, defaults filled in")


class RuntimeVariablesSerializer(serializers.Serializer):
    variables = serializers.DictField(child=serializers.JSONField())


class RuntimeContextApi(RuntimeAPIView):
    @extend_schema(
        operation_id="runtime_context_get",
        responses={200: RuntimeContextSerializer, 401: PROBLEM},
        tags=["runtime"],
        description="What the runtime may know about its participant. Only with a runtime token.",
    )
    def get(self, request: Request) -> Response:
        return Response(_context_body(selectors.runtime_context_get(participant=self.principal.participant)))

    def lean_answer(self, claims: TokenClaims) -> dict[str, Any] | None:
        context = selectors.runtime_context_for_token(claims=claims).answer
        return None if context is None else _context_body(context)


def _context_body(context: selectors.RuntimeContext) -> dict[str, Any]:
    return {
        "participant": {"id": str(context.participant.pk), "profileId": str(context.participant.profile_id)},
        "campaign": {"key": context.campaign.key, "name": context.campaign.name},
        "profile": {
            "attributes": context.attributes,
            "derived": context.derived,
            "derivedStatus": context.derived_status,
        },
        "channels": context.channels,
        "variables": context.variables,
    }


class RuntimeVariablesApi(RuntimeAPIView):
    @extend_schema(
        operation_id="runtime_variables_get",
        responses={200: RuntimeVariablesSerializer, 401: PROBLEM},
        tags=["runtime"],
    )
    def get(self, request: Request) -> Response:
        return Response({"variables": selectors.participant_variables(participant=self.principal.participant)})

    def lean_answer(self, claims: TokenClaims) -> dict[str, Any] | None:
        variables = selectors.participant_variables_for_token(claims=claims).answer
        return None if variables is None else {"variables": variables}

    @extend_schema(
        operation_id="runtime_variables_update",
        request=RuntimeVariablesSerializer,
        responses={200: RuntimeVariablesSerializer, 401: PROBLEM, 422: PROBLEM},
        examples=[OpenApiExample("next step", value={"variables": {"step": 3}}, request_only=True)],
        tags=["runtime"],
        description="Set some variables (null resets one to its default); answers all of them.",
    )
    def patch(self, request: Request) -> Response:
        body = request.data
        if not isinstance(body, dict):
            raise Problem.NOT_AN_OBJECT.error("The body must be a JSON object.")
        problems = [
            FieldProblem(pointer(name), "unknown_field", f"Unknown field {name!r}; only 'variables' may be sent.")
            for name in sorted(body)
            if name != "variables"
        ]
        if "variables" not in body:
            problems.insert(0, FieldProblem("/variables", "required", "This field is required."))
        if problems:
            raise Problem.VALIDATION_ERROR.error("The body is malformed.", problems)
        variables = services.participant_variables_set(
            participant=self.principal.participant, changes=body["variables"]
        )
        return Response({"variables": variables})
