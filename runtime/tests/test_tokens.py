"""Runtime tokens: only a genuine, current token of an active campaign gets in.
Forged tokens are built with PyJWT, as an attacker would."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest
from django.conf import settings
from rest_framework.test import APIClient

from conftest import make_client
from runtime.models import Participant
from runtime.services import campaign_update

from .factories import bearer, mint

pytestmark = pytest.mark.django_db

CONTEXT = "/api/v1/runtime/context"
VARIABLES = "/api/v1/runtime/variables"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def session(runtime_api, quiz, ann):
    return mint(runtime_api, "spring-quiz", identity={"EXTERNAL": "cust-42"})


@pytest.fixture
def claims(session):
    return jwt.decode(
        session["token"],
        settings.CDP_RUNTIME_JWT_SIGNING_KEY,
        algorithms=["HS256"],
        audience="resultfly-runtime",
        issuer="resultfly-cdp",
    )


def _forge(claims: dict, *, key: str | None = None, algorithm: str = "HS256", **changes) -> str:
    payload = {**claims, **changes}
    payload = {name: value for name, value in payload.items() if value is not None}
    return jwt.encode(payload, key or settings.CDP_RUNTIME_JWT_SIGNING_KEY, algorithm=algorithm)


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _assert_401(response, code: str) -> dict:
    assert response.status_code == 401, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"].startswith('Bearer realm="runtime"')
    body = response.json()
    assert body["code"] == code
    return body


def test_the_genuine_token_gets_in(session, claims):
    # The control for every forged case below: the same claims, honestly signed, work.
    assert bearer(session["token"]).get(VARIABLES).status_code == 200
    assert bearer(_forge(claims)).get(VARIABLES).status_code == 200


def test_an_expired_token_is_401(claims):
    now = int(time.time())
    token = _forge(claims, iat=now - 1000, exp=now - 1)
    _assert_401(bearer(token).get(CONTEXT), "token_expired")


def test_a_token_signed_with_another_key_is_401(claims):
    token = _forge(claims, key="another-key-of-at-least-thirty-two-bytes-0123456789")
    _assert_401(bearer(token).get(CONTEXT), "invalid_token")


def test_an_alg_none_token_is_401(claims):
    token = jwt.encode(claims, None, algorithm="none")
    assert jwt.get_unverified_header(token)["alg"] == "none"
    _assert_401(bearer(token).get(CONTEXT), "invalid_token")
    _assert_401(bearer(token).patch(VARIABLES, {"variables": {"step": 1}}, format="json"), "invalid_token")


def test_another_algorithm_with_the_right_key_is_401(claims):
    # The algorithm is pinned to HS256: the header cannot choose another one.
    _assert_401(bearer(_forge(claims, algorithm="HS512")).get(CONTEXT), "invalid_token")


@pytest.mark.parametrize("audience", ["resultfly-admin", "", ["resultfly-other"], None])
def test_a_wrong_or_missing_audience_is_401(claims, audience):
    token = _forge(
        {**claims, "aud": audience} if audience is not None else {k: v for k, v in claims.items() if k != "aud"}
    )
    _assert_401(bearer(token).get(CONTEXT), "invalid_token")


@pytest.mark.parametrize("issuer", ["someone-else", "", None])
def test_a_wrong_or_missing_issuer_is_401(claims, issuer):
    token = _forge({**claims, "iss": issuer} if issuer is not None else {k: v for k, v in claims.items() if k != "iss"})
    _assert_401(bearer(token).get(CONTEXT), "invalid_token")


@pytest.mark.parametrize(
    "change",
    [
        {"participant": "00000000-0000-4000-8000-000000000000"},
        {"campaign": "autumn-quiz"},
        {"tenant": 999},
        {"exp": 4_102_444_800},
    ],
)
def test_a_tampered_payload_is_401(session, change):
    header, payload, signature = session["token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    tampered = f"{header}.{_b64({**claims, **change})}.{signature}"
    _assert_401(bearer(tampered).get(CONTEXT), "invalid_token")


def test_a_tampered_signature_is_401(session):
    header, payload, signature = session["token"].split(".")
    flipped = signature[:-2] + ("AA" if not signature.endswith("AA") else "BB")
    _assert_401(bearer(f"{header}.{payload}.{flipped}").get(CONTEXT), "invalid_token")


@pytest.mark.parametrize("missing", ["jti", "exp", "iat", "token_type", "tenant", "campaign", "participant", "profile"])
def test_a_token_missing_a_claim_is_401(claims, missing):
    token = _forge({k: v for k, v in claims.items() if k != missing})
    _assert_401(bearer(token).get(CONTEXT), "invalid_token")


def test_a_token_of_another_type_is_401(claims):
    _assert_401(bearer(_forge(claims, token_type="access")).get(CONTEXT), "invalid_token")


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Bearer a b", "Bearer not.a.jwt", "Bearer ¡"])
def test_a_malformed_bearer_header_is_401(header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get(CONTEXT)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith('Bearer realm="runtime"')


def test_no_credential_is_401_asking_for_a_bearer_token(quiz):
    response = APIClient().get(CONTEXT)
    _assert_401(response, "not_authenticated")
    assert response["WWW-Authenticate"] == 'Bearer realm="runtime"'


def test_a_deactivated_campaign_stops_its_tokens_at_once(session, quiz):
    client = bearer(session["token"])
    assert client.get(CONTEXT).status_code == 200
    campaign_update(campaign=quiz, active=False)
    body = _assert_401(client.get(CONTEXT), "token_revoked")
    assert "spring-quiz" in body["detail"]
    _assert_401(client.patch(VARIABLES, {"variables": {"step": 1}}, format="json"), "token_revoked")
    campaign_update(campaign=quiz, active=True)
    assert client.get(CONTEXT).status_code == 200


def test_deactivating_through_the_admin_api_stops_tokens(session, tenant, key_factory):
    admin = make_client(key_factory(tenant, ["admin"]).plaintext)
    client = bearer(session["token"])
    assert admin.patch("/api/v1/campaigns/spring-quiz", {"active": False}, format="json").status_code == 200
    _assert_401(client.get(VARIABLES), "token_revoked")


def test_a_token_whose_participant_is_gone_is_401(session):
    Participant.objects.all().delete()
    _assert_401(bearer(session["token"]).get(CONTEXT), "token_revoked")


def test_a_lifetime_over_15_minutes_is_refused_at_startup():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "cdp_project.settings", "CDP_RUNTIME_TOKEN_LIFETIME_SECONDS": "901"}
    out = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode != 0
    assert "CDP_RUNTIME_TOKEN_LIFETIME_SECONDS must be at most 900" in out.stderr


def test_production_refuses_to_start_without_its_own_runtime_signing_key():
    env = {k: v for k, v in os.environ.items() if k != "CDP_RUNTIME_JWT_SIGNING_KEY"}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "cdp_project.settings.production",
            "DJANGO_SECRET_KEY": "x" * 50,
            "DJANGO_ALLOWED_HOSTS": "x",
        }
    )
    out = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode != 0
    assert "CDP_RUNTIME_JWT_SIGNING_KEY" in out.stderr


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": 10**20},
        {"exp": 1e308},
        {"exp": "9999999999"},
        {"exp": True},
        {"campaign": "spring\u0000quiz"},
        {"campaign": ""},
        {"tenant": 2**70},
        {"tenant": -1},
    ],
    ids=[
        "exp-huge",
        "exp-float-huge",
        "exp-string",
        "exp-bool",
        "campaign-nul",
        "campaign-empty",
        "tenant-huge",
        "tenant-negative",
    ],
)
def test_a_correctly_signed_token_with_absurd_claims_is_401_not_500(claims, changes):
    """Found by fuzzing: such claims reached datetime and database conversions."""
    token = _forge(claims, **changes)
    client = APIClient()
    client.raise_request_exception = False
    response = client.get("/api/v1/runtime/context", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 401, response.content
    assert response["Content-Type"] == "application/problem+json"


def test_a_token_that_worked_stops_at_its_expiry_although_verified_tokens_are_remembered(claims):
    token = _forge(claims, exp=int(time.time()) + 2)
    assert bearer(token).get(CONTEXT).status_code == 200
    assert bearer(token).get(CONTEXT).status_code == 200
    time.sleep(max(0.0, jwt.decode(token, options={"verify_signature": False})["exp"] - time.time()) + 0.05)
    _assert_401(bearer(token).get(CONTEXT), "token_expired")


def test_a_remembered_token_altered_by_one_character_is_still_refused(session):
    client = bearer(session["token"])
    assert client.get(CONTEXT).status_code == 200
    header, payload, signature = session["token"].split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]  # the first character: all six bits count
    _assert_401(bearer(f"{header}.{payload}.{flipped}").get(CONTEXT), "invalid_token")
