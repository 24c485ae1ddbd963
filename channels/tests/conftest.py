"""Channel updates through real HTTP requests: a registered source, clients for both
scopes, and a small helper that posts one channel update."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from conftest import make_client
from ingest.services import source_create


@pytest.fixture
def crm(tenant):
    return source_create(tenant=tenant, key="crm", name="CRM")


@pytest.fixture
def base_time():
    """A recent moment, well inside the accepted occurredAt window, at a whole second."""
    return (timezone.now() - dt.timedelta(days=1)).replace(microsecond=0)


@pytest.fixture
def api(tenant, key_factory, crm):
    """One client with the ingest and admin scopes."""
    return make_client(key_factory(tenant, ["ingest", "admin"]).plaintext)
