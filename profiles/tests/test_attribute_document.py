"""Profile.attributes, the attribute document segments read, equals the profile's attribute
rows after every kind of write: the profiles service, bulk and raw statements that move or
delete rows, and a direct write of the column itself (ignored). The end-to-end writers
(ingest over HTTP, merges, erasure, merge reverts) are in privacy/tests/test_attribute_documents.py."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from profiles.models import AttributeValue, Profile
from profiles.selectors import attribute_documents_drift
from profiles.services import profile_attributes_apply

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
TRIGGERS = {
    "profiles_attributes_inserted",
    "profiles_attributes_updated",
    "profiles_attributes_deleted",
    "profiles_attributes_guard_insert",
    "profiles_attributes_guard_update",
}


def document(profile: Profile) -> dict:
    return Profile.objects.get(pk=profile.pk).attributes


def apply(profile, attributes, hours):
    profile_attributes_apply(
        tenant_id=profile.tenant_id,
        profile_id=profile.pk,
        attributes=attributes,
        occurred_at=T0 + dt.timedelta(hours=hours),
        source="crm",
    )


def test_the_triggers_that_keep_the_documents_exist():
    """A later migration that rebuilds either table (SQLite does for most column changes)
    drops its triggers: this says so at once."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        names = {name for (name,) in cursor.fetchall()}
    assert TRIGGERS <= names


def test_a_new_profile_has_an_empty_document(tenant):
    assert document(Profile.objects.create(tenant=tenant)) == {}


def test_the_service_keeps_the_document_through_changes_and_removals(tenant):
    profile = Profile.objects.create(tenant=tenant)
    apply(profile, {"tier": "gold", "age": 41, "tags": ["a", "b"], "vip": True}, 0)
    assert document(profile) == {"tier": "gold", "age": 41, "tags": ["a", "b"], "vip": True}
    apply(profile, {"tier": "silver", "age": None}, 1)  # a change and a removal
    assert document(profile) == {"tier": "silver", "tags": ["a", "b"], "vip": True}
    apply(profile, {"tier": "bronze"}, -1)  # older: loses, nothing changes
    assert document(profile) == {"tier": "silver", "tags": ["a", "b"], "vip": True}
    assert attribute_documents_drift(tenant_id=tenant.pk) == {}


def test_bulk_and_raw_statements_that_move_and_delete_rows_are_followed(tenant):
    ann, bob = Profile.objects.create(tenant=tenant), Profile.objects.create(tenant=tenant)
    AttributeValue.objects.bulk_create(
        [
            AttributeValue(tenant=tenant, profile=ann, name="tier", value="gold", occurred_at=T0),
            AttributeValue(tenant=tenant, profile=ann, name="country", value="DE", occurred_at=T0),
            AttributeValue(tenant=tenant, profile=bob, name="tier", value="silver", occurred_at=T0),
        ]
    )
    assert (document(ann), document(bob)) == ({"tier": "gold", "country": "DE"}, {"tier": "silver"})
    # One statement moving a row from one profile to another, as a merge does.
    AttributeValue.objects.filter(profile=ann, name="country").update(profile=bob)
    assert (document(ann), document(bob)) == ({"tier": "gold"}, {"tier": "silver", "country": "DE"})
    AttributeValue.objects.filter(tenant=tenant).delete()
    assert (document(ann), document(bob)) == ({}, {})
    assert attribute_documents_drift(tenant_id=tenant.pk) == {}


def test_a_direct_write_of_the_document_is_not_kept(tenant):
    profile = Profile.objects.create(tenant=tenant, attributes={"tier": "forged"})
    assert document(profile) == {}
    apply(profile, {"tier": "gold"}, 0)
    stale = Profile.objects.get(pk=profile.pk)
    apply(profile, {"tier": "silver"}, 1)
    stale.save()  # a full save of a row read before the change
    assert document(profile) == {"tier": "silver"}
    Profile.objects.filter(pk=profile.pk).update(attributes={"tier": "forged"})
    assert document(profile) == {"tier": "silver"}
    assert attribute_documents_drift(tenant_id=tenant.pk) == {}
