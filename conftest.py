"""Fixtures shared by every test: tenants and API clients built through the services."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from tenants.services import api_key_create, tenant_create


def pytest_collection_modifyitems(config, items):
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (run by make test's PostgreSQL pass)")
    for item in items:
        if "postgres_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def tenant(db):
    return tenant_create(slug="acme", name="Acme", default_region="GB")


@pytest.fixture
def other_tenant(db):
    return tenant_create(slug="globex", name="Globex", default_region="DE")


def threads_run(count: int, work):
    """`work(index)` for index 0..count-1, each in its own thread, all released together by a
    barrier; their answers in order. Each thread closes its own database connection."""
    barrier = threading.Barrier(count)

    def run(index):
        try:
            barrier.wait(timeout=10)
            return work(index)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def connection_dropped() -> int:
    """What a PostgreSQL restart does to the test's persistent connection: its backend is
    terminated from another connection, and the next request owes a health check again (as a
    server's request_started does). Answers the terminated backend's pid."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        other.close()
    connection.health_check_done = False
    return pid


def make_client(plaintext: str | None) -> APIClient:
    client = APIClient()
    if plaintext:
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {plaintext}")
    return client


@pytest.fixture
def key_factory(db):
    def factory(tenant, scopes=("ingest", "admin", "runtime"), **kwargs):
        return api_key_create(tenant=tenant, scopes=scopes, **kwargs)

    return factory


@pytest.fixture
def admin_api(tenant, key_factory) -> APIClient:
    return make_client(key_factory(tenant, ["admin"]).plaintext)


@pytest.fixture
def ingest_api(tenant, key_factory) -> APIClient:
    return make_client(key_factory(tenant, ["ingest"]).plaintext)


@pytest.fixture
def other_admin_api(other_tenant, key_factory) -> APIClient:
    return make_client(key_factory(other_tenant, ["admin"]).plaintext)


def pytest_report_header(config):
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    return f"database: {engine}"
