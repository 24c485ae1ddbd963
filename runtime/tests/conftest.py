from __future__ import annotations

import pytest

from .factories import campaign_make, profile_make, runtime_client


@pytest.fixture
def runtime_api(tenant, key_factory):
    return runtime_client(tenant, key_factory)


@pytest.fixture
def quiz(tenant):
    return campaign_make(tenant)


@pytest.fixture
def ann(tenant):
    """cust-42, with an email and two attributes."""
    return profile_make(
        tenant, {"EXTERNAL": "cust-42", "EMAIL": "ann@example.com"}, {"firstName": "Ann", "tier": "gold"}
    )
