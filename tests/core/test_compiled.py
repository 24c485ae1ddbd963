"""A compiled hot-path read answers exactly what its queryset answers, for any
parameters, with Django's own conversions (JSON, UUIDs, datetimes), on both databases."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cdp_project.core.compiled import CompiledQuery, reads_run
from tenants.models import Tenant
from tenants.services import tenant_create

pytestmark = pytest.mark.django_db


def _by_slug(*, slug: str, created_after):
    return (
        Tenant.objects.filter(slug=slug, created_at__gte=created_after)
        .order_by()
        .values_list("id", "slug", "blocked_identifier_values", "created_at")
    )


def test_a_compiled_read_answers_what_its_queryset_answers_for_new_parameters():
    first = tenant_create(slug="acme", name="Acme", default_region="GB")
    second = tenant_create(slug="globex", name="Globex", default_region="DE")
    query = CompiledQuery(
        _by_slug,
        fields={"slug": Tenant._meta.get_field("slug"), "created_after": Tenant._meta.get_field("created_at")},
        sentinels={"slug": "\x01sentinel", "created_after": first.created_at.replace(year=2001)},
    )
    for tenant in (first, second):
        expected = list(_by_slug(slug=tenant.slug, created_after=first.created_at))
        assert expected and query.run(slug=tenant.slug, created_after=first.created_at) == expected
    assert query.run(slug="missing", created_after=first.created_at) == []

    with CaptureQueriesContext(connection) as captured:
        query.run(slug="acme", created_after=first.created_at)
    assert len(captured) == 1


def test_a_sentinel_missing_from_the_sql_is_refused_at_once():
    query = CompiledQuery(
        lambda *, slug: Tenant.objects.order_by().values_list("id"),
        fields={"slug": Tenant._meta.get_field("slug")},
        sentinels={"slug": str(uuid.uuid4())},
    )
    with pytest.raises(ValueError, match="slug"):
        query.run(slug="acme")


def test_reads_run_together_answer_what_each_answers_alone_each_one_statement():
    first = tenant_create(slug="acme", name="Acme", default_region="GB")
    tenant_create(slug="globex", name="Globex", default_region="DE")
    query = CompiledQuery(
        _by_slug,
        fields={"slug": Tenant._meta.get_field("slug"), "created_after": Tenant._meta.get_field("created_at")},
        sentinels={"slug": "\x01sentinel", "created_after": first.created_at.replace(year=2001)},
    )
    alone = [query.run(slug=slug, created_after=first.created_at) for slug in ("acme", "globex", "none")]
    with CaptureQueriesContext(connection) as captured:
        together = reads_run(
            *(query.read(list, slug=s, created_after=first.created_at) for s in ("acme", "globex", "none"))
        )
    assert together == alone and together[0] and together[1] and together[2] == []
    assert len(captured) == 3
    assert reads_run() == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")
def test_on_postgresql_a_compiled_read_is_prepared_once_per_connection_and_logged_with_its_values():
    first = tenant_create(slug="acme", name="Acme", default_region="GB")
    query = CompiledQuery(
        _by_slug,
        fields={"slug": Tenant._meta.get_field("slug"), "created_after": Tenant._meta.get_field("created_at")},
        sentinels={"slug": "\x01sentinel", "created_after": first.created_at.replace(year=2001)},
    )

    def prepared() -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement FROM pg_prepared_statements")
            return [row[0] for row in cursor.fetchall() if "tenants_tenant" in row[0]]

    assert prepared() == []
    with CaptureQueriesContext(connection) as captured:
        for slug in ("acme", "globex", "acme"):
            query.run(slug=slug, created_after=first.created_at)
        reads_run(
            query.read(list, slug="acme", created_after=first.created_at),
            query.read(list, slug="x", created_after=first.created_at),
        )
    assert len(prepared()) == 1, "one statement, prepared on first use and reused since"
    assert len(captured) == 5
    assert "'globex'" in captured[1]["sql"], "the log shows the values, as for every other statement"
