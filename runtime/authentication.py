"""`Authorization: Bearer <runtime JWT>` for the campaign runtime's two endpoints.

Tenant, campaign and participant come only from the verified token, never from the URL
or the body; and on every request the campaign must still be active and the participant
must still exist, so deactivating a campaign stops its tokens at once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication
from rest_framework.request import Request
from rest_framework_simplejwt.exceptions import TokenError

from cdp_project.core.errors import Problem, ProblemError
from tenants.models import Tenant

from .models import Campaign, Participant
from .selectors import participant_for_token
from .tokens import TokenClaims, TokenExpired, runtime_token_decode

KEYWORD = "Bearer"
REALM = 'Bearer realm="runtime"'


@dataclass(frozen=True)
class RuntimePrincipal:
    """The caller behind a runtime token. `request.user` is this; `request.auth` the claims."""

    tenant: Tenant
    campaign: Campaign
    participant: Participant
    jti: str

    is_authenticated = True
    is_anonymous = False

    @property
    def profile_id(self) -> uuid.UUID:
        return self.participant.profile_id


def _refused(problem: Problem, detail: str) -> ProblemError:
    header = f'{REALM}, error="invalid_token", error_description="{problem.title}"'
    return problem.error(detail, headers={"WWW-Authenticate": header})


def participant_gone() -> ProblemError:
    """401 `token_revoked`: the token's participant no longer exists."""
    return _refused(
        Problem.TOKEN_REVOKED,
        "The participant of this token no longer exists (it may have been combined in a merge); "
        "ask the backend for a new token.",
    )


def bearer_claims(text: str | None) -> TokenClaims | None:
    """The claims of a well-formed `Authorization: Bearer <token>` header (its text) whose token
    passes every check, or None for anything else (no header, another scheme, a refused token),
    which RuntimeTokenAuthentication then answers. The lean path of the runtime endpoints."""
    if not text or not text.isascii():
        return None
    keyword, _, raw = text.partition(" ")
    raw = raw.strip()
    if keyword.lower() != KEYWORD.lower() or not raw or " " in raw:
        return None
    try:
        return runtime_token_decode(raw=raw)
    except TokenError:
        return None


class RuntimeTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[RuntimePrincipal, TokenClaims] | None:
        header = authentication.get_authorization_header(request)
        if not header:
            return None
        try:
            text = header.decode("ascii")
        except UnicodeDecodeError:
            raise _refused(Problem.INVALID_TOKEN, "The Authorization header is not ASCII.") from None
        keyword, _, raw = text.partition(" ")
        if keyword.lower() != KEYWORD.lower():
            return None  # an API key or another scheme: the runtime endpoints answer 401 not_authenticated
        raw = raw.strip()
        if not raw or " " in raw:
            raise _refused(Problem.INVALID_TOKEN, "Use 'Authorization: Bearer <token>' with one token.")
        try:
            claims = runtime_token_decode(raw=raw)
        except TokenExpired:
            raise _refused(
                Problem.TOKEN_EXPIRED, "The runtime token has expired; ask the backend for a new one."
            ) from None
        except TokenError as error:
            raise _refused(Problem.INVALID_TOKEN, f"The runtime token was refused: {error}.") from None
        participant = participant_for_token(
            tenant_id=claims.tenant_id, campaign_key=claims.campaign_key, participant_id=claims.participant_id
        )
        if participant is None:
            raise participant_gone()
        if not participant.campaign.active:
            raise _refused(
                Problem.TOKEN_REVOKED,
                f"The campaign '{participant.campaign.key}' is not active; its runtime tokens no longer work.",
            )
        principal = RuntimePrincipal(
            tenant=participant.tenant, campaign=participant.campaign, participant=participant, jti=claims.jti
        )
        return principal, claims

    def authenticate_header(self, request: Request) -> str:
        return REALM


class RuntimeJWTScheme(OpenApiAuthenticationExtension):
    target_class = "runtime.authentication.RuntimeTokenAuthentication"
    name = "RuntimeJWT"

    def get_security_definition(self, auto_schema):  # noqa: ANN001, ANN201
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": (
                "User-context token for one participant of one campaign, minted by "
                "POST /api/v1/runtime/sessions. Only for /api/v1/runtime/context and "
                "/api/v1/runtime/variables."
            ),
        }
