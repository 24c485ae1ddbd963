"""A compiled hot-path read answers exactly what its queryset answers, for any
parameters, with Django's own conversions (JSON, UUIDs, datetimes), on both databases."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import DecimalField, F, Value
from django.test.utils import CaptureQueriesContext

from cdp_project.core.compiled import CompiledQuery, model_columns, reads_run
from profiles.models import Profile
from runtime.models import Campaign, VariableDefinition
from runtime.services import campaign_create
from runtime.variables import variables_parse
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


def test_reads_run_together_answer_what_each_answers_alone_in_one_statement_on_postgresql():
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
    assert len(captured) == (1 if connection.vendor == "postgresql" else 3)
    assert reads_run() == []


def _definitions(*, campaign_id):
    return (
        VariableDefinition.objects.filter(campaign_id=campaign_id)
        .annotate(campaign_key=F("campaign__key"), campaign_created=F("campaign__created_at"))
        .order_by("-position")
        .values_list(*model_columns(VariableDefinition), "campaign_key", "campaign_created", "campaign__tenant_id")
    )


_DEFINITIONS = CompiledQuery(_definitions, fields={"campaign_id": Campaign._meta.pk}, sentinels={"campaign_id": -7_901})


def test_values_read_together_are_the_values_read_alone_awkward_ones_too():
    """Together the rows make a trip through JSON on PostgreSQL: every value comes back as the
    read alone gives it (floats, big and nested JSON, NULLs, text JSON would escape, datetimes
    to the microsecond, UUIDs), each read's rows in its order."""
    tenant = tenant_create(slug="acme", name='Acme \u2028 "quoted" ä 😀', default_region="GB")
    specs, problems = variables_parse(
        [
            {"name": "ratio", "type": "number", "minimum": 0.1, "maximum": 1e300, "default": 0.30000000000000004},
            {"name": "big", "type": "integer", "default": 2**62 + 1},
            {"name": "tags", "type": "array", "default": [{"k": "\u2028\t", "n": None, "f": -0.0}, "é"]},
            {"name": "level", "type": "enum", "values": ["easy", "hard \\ "], "default": "easy"},
            {"name": "empty", "type": "string"},
        ]
    )
    assert not problems, problems
    campaign = campaign_create(tenant=tenant, key="quiz", name="Quiz", variables=specs)
    empty = campaign_create(tenant=tenant, key="none", name="None", variables=[])
    profile = Profile.objects.create(tenant=tenant)
    _, uuids = _participants(tenant, campaign, profile)
    alone = [
        _DEFINITIONS.run(campaign_id=campaign.pk),
        _DEFINITIONS.run(campaign_id=empty.pk),
        uuids.run(tenant_id=tenant.pk),
    ]
    assert len(alone[0]) == 5 and alone[1] == [] and alone[2]
    with CaptureQueriesContext(connection) as captured:
        together = reads_run(
            _DEFINITIONS.read(list, campaign_id=campaign.pk),
            _DEFINITIONS.read(list, campaign_id=empty.pk),
            uuids.read(list, tenant_id=tenant.pk),
        )
    assert together == alone
    assert [[type(value) for value in row] for row in together[0]] == [
        [type(value) for value in row] for row in alone[0]
    ]
    assert len(captured) == (1 if connection.vendor == "postgresql" else 3)


def _participants(tenant, campaign, profile):
    from runtime.models import Participant

    Participant.objects.create(tenant=tenant, campaign=campaign, profile=profile)
    query = CompiledQuery(
        lambda *, tenant_id: (
            Participant.objects.filter(tenant_id=tenant_id).order_by("pk").values_list("pk", "profile_id", "created_at")
        ),
        fields={"tenant_id": Tenant._meta.pk},
        sentinels={"tenant_id": -7_902},
    )
    return Participant, query


def test_a_read_whose_column_cannot_make_the_trip_through_json_goes_in_a_pipeline_instead():
    tenant = tenant_create(slug="acme", name="Acme", default_region="GB")
    priced = CompiledQuery(
        lambda *, slug: (
            Tenant.objects.filter(slug=slug)
            .annotate(price=Value(Decimal("10.10"), output_field=DecimalField(max_digits=5, decimal_places=2)))
            .values_list("pk", "price")
        ),
        fields={"slug": Tenant._meta.get_field("slug")},
        sentinels={"slug": "\x01sentinel"},
    )
    with CaptureQueriesContext(connection) as captured:
        together = reads_run(priced.read(list, slug="acme"), priced.read(list, slug="acme"))
    assert together == [[(tenant.pk, Decimal("10.10"))]] * 2
    assert len(captured) == 2


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
    assert len(prepared()) == 2, "the read alone and the reads together, each prepared on first use"
    assert len(captured) == 4
    assert "'globex'" in captured[1]["sql"], "the log shows the values, as for every other statement"
