"""Runtime JWTs: short-lived, participant-scoped access tokens signed with simplejwt.

The algorithm, audience and issuer are pinned here, in code; only the signing key and
the lifetime come from settings (`CDP_RUNTIME_JWT_SIGNING_KEY`,
`CDP_RUNTIME_TOKEN_LIFETIME_SECONDS`, at most 15 minutes). A token says which tenant,
campaign, participant and profile it was minted for; the authentication class still
checks on every request that the campaign is active and the participant exists.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import Token
from rest_framework_simplejwt.utils import datetime_from_epoch

ALGORITHM = "HS256"
AUDIENCE = "resultfly-runtime"
ISSUER = "resultfly-cdp"
TOKEN_TYPE = "runtime"
MAX_LIFETIME_SECONDS = 900

CLAIM_TENANT = "tenant"
CLAIM_CAMPAIGN = "campaign"
CLAIM_PARTICIPANT = "participant"
CLAIM_PROFILE = "profile"


@lru_cache(maxsize=4)
def _backend(signing_key: str) -> TokenBackend:
    # LEEWAY 0: an expired token is expired; the lifetime is short enough already.
    return TokenBackend(ALGORITHM, signing_key=signing_key, audience=AUDIENCE, issuer=ISSUER, leeway=0)


# 2100-01-01: no runtime token lives that long; larger values are forgeries.
MAX_EPOCH = 4_102_444_800


class TokenExpired(TokenError):
    pass


class RuntimeAccessToken(Token):
    """simplejwt's Token with our own backend (pinned algorithm, `aud`, `iss`), a
    dedicated `token_type` and required runtime claims. simplejwt adds `exp`, `iat`,
    `jti` and `token_type`; the backend adds `aud` and `iss` and verifies all of them."""

    token_type = TOKEN_TYPE
    lifetime = dt.timedelta(seconds=MAX_LIFETIME_SECONDS)

    def __init__(self, token: Any = None, verify: bool = True) -> None:
        seconds = settings.CDP_RUNTIME_TOKEN_LIFETIME_SECONDS
        if not 0 < seconds <= MAX_LIFETIME_SECONDS:
            raise TokenError(f"The runtime token lifetime must be 1–{MAX_LIFETIME_SECONDS} seconds, not {seconds}.")
        self.lifetime = dt.timedelta(seconds=seconds)
        try:
            super().__init__(token, verify)
        except TokenError as error:
            if "expired" in str(error).lower():
                raise TokenExpired(str(error)) from error
            raise

    def get_token_backend(self) -> TokenBackend:
        return _backend(settings.CDP_RUNTIME_JWT_SIGNING_KEY)

    def verify(self) -> None:
        # simplejwt turns `exp` into a datetime: refuse what cannot be one before it tries.
        exp = self.payload.get("exp")
        if isinstance(exp, bool) or not isinstance(exp, int | float) or not 0 < exp < MAX_EPOCH:
            raise TokenError("Token has no valid 'exp' claim")
        super().verify()  # exp, jti, token_type
        if not isinstance(self.payload.get("iat"), int | float):
            raise TokenError("Token has no 'iat' claim")
        if not isinstance(self.payload.get(CLAIM_TENANT), int) or isinstance(self.payload.get(CLAIM_TENANT), bool):
            raise TokenError("Token has no valid 'tenant' claim")
        tenant = self.payload.get(CLAIM_TENANT)
        if not 0 < tenant < 2**63:
            raise TokenError("Token has no valid 'tenant' claim")
        campaign = self.payload.get(CLAIM_CAMPAIGN)
        if not isinstance(campaign, str) or not 0 < len(campaign) <= 255 or not campaign.isprintable():
            raise TokenError("Token has no valid 'campaign' claim")
        for claim in (CLAIM_PARTICIPANT, CLAIM_PROFILE):
            try:
                uuid.UUID(str(self.payload.get(claim)))
            except ValueError:
                raise TokenError(f"Token has no valid '{claim}' claim") from None


@dataclass(frozen=True)
class TokenClaims:
    tenant_id: int
    campaign_key: str
    participant_id: uuid.UUID
    profile_id: uuid.UUID
    jti: str
    expires_at: dt.datetime


def runtime_token_mint(
    *, tenant_id: int, campaign_key: str, participant_id: uuid.UUID, profile_id: uuid.UUID
) -> tuple[str, TokenClaims]:
    """A signed token for one participant of one campaign, and its claims."""
    token = RuntimeAccessToken()
    token[CLAIM_TENANT] = tenant_id
    token[CLAIM_CAMPAIGN] = campaign_key
    token[CLAIM_PARTICIPANT] = str(participant_id)
    token[CLAIM_PROFILE] = str(profile_id)
    return str(token), _claims(token)


# Verified tokens by (signing key, token text): a runtime sends the same token on every
# step of a flow, and verifying it again would give the same answer until it expires. Only
# tokens that passed every check are kept, keyed by their exact bytes, so a forged or
# altered token is always verified in full; expiry is checked on every use.
_verified: dict[tuple[str, str], TokenClaims] = {}
VERIFIED_CACHED = 4_096


def runtime_token_decode(*, raw: str) -> TokenClaims:
    """Verify signature, algorithm, `aud`, `iss`, `exp`, type and claims; TokenError
    (TokenExpired for an expired one) otherwise."""
    key = (settings.CDP_RUNTIME_JWT_SIGNING_KEY, raw)
    claims = _verified.get(key)
    if claims is not None:
        if claims.expires_at > dt.datetime.now(dt.UTC):
            return claims
        _verified.pop(key, None)
    claims = _claims(RuntimeAccessToken(raw))
    if len(_verified) >= VERIFIED_CACHED:
        _verified.clear()
    _verified[key] = claims
    return claims


def _claims(token: RuntimeAccessToken) -> TokenClaims:
    return TokenClaims(
        tenant_id=token[CLAIM_TENANT],
        campaign_key=token[CLAIM_CAMPAIGN],
        participant_id=uuid.UUID(str(token[CLAIM_PARTICIPANT])),
        profile_id=uuid.UUID(str(token[CLAIM_PROFILE])),
        jti=token["jti"],
        expires_at=datetime_from_epoch(token["exp"]),
    )
