"""Build runtime test state through the real services and real requests."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction
from rest_framework.test import APIClient

from cdp_project.core.retries import run_with_retries
from conftest import make_client
from identity.normalization import identity_normalize
from identity.resolver import identity_resolve
from profiles.services import profile_attributes_apply
from runtime.models import Campaign
from runtime.services import campaign_create
from runtime.variables import variables_parse

T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
_counter = itertools.count(1)

QUIZ_VARIABLES = [
    {"name": "step", "type": "integer", "default": 0},
    {"name": "answers", "type": "array", "default": []},
    {"name": "level", "type": "enum", "values": ["easy", "hard"], "default": "easy"},
    {"name": "score", "type": "number", "minimum": 0},
    {"name": "finishedAt", "type": "datetime"},
]


def profile_make(tenant, identity: Mapping[str, str], attributes: Mapping[str, Any] | None = None) -> uuid.UUID:
    """Resolve an identity map as ingest would (creating, claiming or merging)."""
    normalized = identity_normalize(tenant=tenant, identity=dict(identity))
    assert not normalized.problems, normalized.problems

    def work() -> uuid.UUID:
        with transaction.atomic(durable=True):
            resolution = identity_resolve(
                tenant=tenant,
                identity=normalized,
                occurred_at=T0,
                source="shop-backend",
                trigger=f"event shop-backend/evt-{next(_counter)}",
            )
            if attributes:
                profile_attributes_apply(
                    tenant_id=tenant.pk,
                    profile_id=resolution.profile_id,
                    attributes=dict(attributes),
                    occurred_at=T0,
                    source="crm",
                )
            return resolution.profile_id

    return run_with_retries(work)


def campaign_make(
    tenant, key: str = "spring-quiz", *, name: str = "Spring quiz", variables: Sequence[dict] = QUIZ_VARIABLES
) -> Campaign:
    specs, problems = variables_parse(list(variables))
    assert not problems, problems
    return campaign_create(tenant=tenant, key=key, name=name, variables=specs)


def mint(runtime_api: APIClient, campaign: str, **body: Any) -> dict[str, Any]:
    response = runtime_api.post("/api/v1/runtime/sessions", {"campaign": campaign, **body}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def runtime_client(tenant, key_factory) -> APIClient:
    return make_client(key_factory(tenant, ["runtime"]).plaintext)
