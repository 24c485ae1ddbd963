"""Per attribute, the value with the latest occurredAt wins, whatever the arrival order."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from profiles.models import AttributeValue, Profile
from profiles.selectors import profile_attributes
from profiles.services import profile_attributes_apply

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


def at(hours: int) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


@pytest.fixture
def profile(tenant):
    return Profile.objects.create(tenant=tenant)


def apply(profile, attributes, occurred_at, source="crm"):
    return profile_attributes_apply(
        tenant_id=profile.tenant_id,
        profile_id=profile.pk,
        attributes=attributes,
        occurred_at=occurred_at,
        source=source,
    )


def test_first_values_are_set_and_reported_as_changed(profile):
    assert apply(profile, {"tier": "gold", "firstName": "Ann"}, at(0)) == ("firstName", "tier")
    assert profile_attributes(profile_id=profile.pk) == {"firstName": "Ann", "tier": "gold"}


def test_a_newer_value_replaces_an_older_one(profile):
    apply(profile, {"tier": "silver"}, at(0))
    assert apply(profile, {"tier": "gold"}, at(1)) == ("tier",)
    assert profile_attributes(profile_id=profile.pk) == {"tier": "gold"}


def test_an_older_value_arriving_late_does_not_win(profile):
    apply(profile, {"tier": "gold"}, at(2))
    assert apply(profile, {"tier": "silver"}, at(1)) == ()
    row = AttributeValue.objects.get(profile=profile, name="tier")
    assert (row.value, row.occurred_at) == ("gold", at(2))


def test_null_removes_an_attribute_and_an_older_update_cannot_bring_it_back(profile):
    apply(profile, {"nickname": "Annie"}, at(1))
    assert apply(profile, {"nickname": None}, at(3)) == ("nickname",)
    assert profile_attributes(profile_id=profile.pk) == {}
    assert apply(profile, {"nickname": "Ann"}, at(2)) == ()
    assert profile_attributes(profile_id=profile.pk) == {}
    assert apply(profile, {"nickname": "Nan"}, at(4)) == ("nickname",)
    assert profile_attributes(profile_id=profile.pk) == {"nickname": "Nan"}


def test_removing_an_unknown_attribute_remembers_when_it_was_removed(profile):
    assert apply(profile, {"nickname": None}, at(5)) == ()
    assert apply(profile, {"nickname": "old"}, at(4)) == ()
    assert profile_attributes(profile_id=profile.pk) == {}


def test_the_same_value_again_is_not_a_change(profile):
    apply(profile, {"tier": "gold"}, at(0))
    assert apply(profile, {"tier": "gold"}, at(1)) == ()


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_any_arrival_order_converges_on_the_same_values(tenant, order):
    updates = [
        ({"tier": "silver", "city": "Leeds"}, at(1)),
        ({"tier": "gold"}, at(2)),
        ({"tier": "bronze", "city": None}, at(2)),  # same time as "gold": broken by canonical JSON
        ({"city": "York", "tags": ["a", "b"]}, at(0)),
    ]
    profile = Profile.objects.create(tenant=tenant)
    for index in order:
        apply(profile, *updates[index])
    assert profile_attributes(profile_id=profile.pk) == {"tier": "gold", "tags": ["a", "b"]}


def test_applying_updates_the_profiles_updated_at(profile):
    before = profile.updated_at
    apply(profile, {"tier": "gold"}, at(0))
    profile.refresh_from_db()
    assert profile.updated_at > before
