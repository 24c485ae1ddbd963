"""DESIGN.md §3 and §4, one rule per test, through the real resolver and database."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction

from cdp_project.core.errors import ProblemError
from identity.models import Identifier, IdentityConflict
from identity.normalization import identity_normalize
from identity.resolver import identity_resolve
from profiles.merging import register_merge_handler, unregister_merge_handler
from profiles.models import MergeLedgerEntry, Profile
from profiles.selectors import profile_attributes, profile_get_live
from profiles.services import profile_attributes_apply

from .factories import T0, resolve

pytestmark = pytest.mark.django_db


def owner(tenant, type, value):
    return Identifier.objects.get(tenant=tenant, type=type, value=value).profile_id


def live_profiles(tenant):
    return set(Profile.objects.filter(tenant=tenant, merged_into__isnull=True).values_list("pk", flat=True))


def test_unknown_identity_creates_a_profile_holding_every_identifier(tenant):
    result = resolve(tenant, {"EMAIL": "ann@example.com", "DEVICE_KEY": "dev-1"})
    assert result.created_profile is True
    assert result.matched_by is None
    assert result.attached == ("EMAIL", "DEVICE_KEY")
    assert owner(tenant, "EMAIL", "ann@example.com") == owner(tenant, "DEVICE_KEY", "dev-1") == result.profile_id


def test_the_owner_of_the_external_id_is_the_primary(tenant):
    first = resolve(tenant, {"EXTERNAL": "cust-42"})
    again = resolve(tenant, {"EXTERNAL": "cust-42", "EMAIL": "ann@example.com"})
    assert again.profile_id == first.profile_id
    assert again.matched_by == "EXTERNAL"
    assert again.created_profile is False
    assert again.attached == ("EMAIL",)


def test_anonymous_device_profile_is_claimed_by_a_later_login_event(tenant):
    anonymous = resolve(tenant, {"DEVICE_KEY": "ios-6F9619FF"})
    login = resolve(tenant, {"EXTERNAL": "cust-42", "DEVICE_KEY": "ios-6F9619FF"})
    assert login.profile_id == anonymous.profile_id
    assert login.matched_by == "DEVICE_KEY"
    assert login.created_profile is False
    assert login.attached == ("EXTERNAL",)
    assert login.extra["rule"] == MergeLedgerEntry.RULE_CLAIMED
    assert owner(tenant, "EXTERNAL", "cust-42") == anonymous.profile_id


def test_a_profile_with_another_external_id_is_not_claimed_a_new_profile_is_created(tenant):
    ann = resolve(tenant, {"EXTERNAL": "cust-1", "DEVICE_KEY": "shared-tablet"})
    bob = resolve(tenant, {"EXTERNAL": "cust-2", "DEVICE_KEY": "shared-tablet"})
    assert bob.created_profile is True
    assert bob.profile_id != ann.profile_id
    assert owner(tenant, "DEVICE_KEY", "shared-tablet") == ann.profile_id
    assert [(c.type, c.owner_profile_id, c.reason) for c in bob.conflicts] == [
        ("DEVICE_KEY", ann.profile_id, "different_external_id")
    ]


def test_without_external_the_owner_of_the_highest_precedence_identifier_is_primary(tenant):
    by_phone = resolve(tenant, {"PHONE": "+44 20 7946 0958"})
    by_email = resolve(tenant, {"EMAIL": "ann@example.com"})
    result = resolve(tenant, {"PHONE": "020 7946 0958", "EMAIL": "ann@example.com"})
    assert result.profile_id == by_email.profile_id
    assert result.matched_by == "EMAIL"
    assert result.merged_profiles == (by_phone.profile_id,)
    assert owner(tenant, "PHONE", "+442079460958") == by_email.profile_id


def test_two_profiles_with_different_external_ids_sharing_an_email_are_never_merged(tenant):
    ann = resolve(tenant, {"EXTERNAL": "cust-1", "EMAIL": "family@example.com"})
    bob = resolve(tenant, {"EXTERNAL": "cust-2"})
    result = resolve(tenant, {"EXTERNAL": "cust-2", "EMAIL": "family@example.com"}, trigger="event shop/o-9")
    assert result.profile_id == bob.profile_id  # the event goes to the EXTERNAL's profile
    assert result.merged_profiles == ()
    assert live_profiles(tenant) == {ann.profile_id, bob.profile_id}
    assert owner(tenant, "EMAIL", "family@example.com") == ann.profile_id  # stays where it is
    assert result.as_public()["conflicts"] == [
        {
            "type": "EMAIL",
            "value": "family@example.com",
            "ownerProfileId": str(ann.profile_id),
            "reason": "different_external_id",
        }
    ]
    conflict = IdentityConflict.objects.get(tenant=tenant)
    assert (conflict.owner_profile_id, conflict.primary_profile_id) == (ann.profile_id, bob.profile_id)
    assert conflict.trigger == "event shop/o-9"
    assert MergeLedgerEntry.objects.count() == 0


def test_a_repeated_conflict_is_counted_on_one_row(tenant):
    resolve(tenant, {"EXTERNAL": "cust-1", "EMAIL": "family@example.com"})
    for _ in range(3):
        resolve(tenant, {"EXTERNAL": "cust-2", "EMAIL": "family@example.com"})
    assert IdentityConflict.objects.get(tenant=tenant).occurrences == 3


def test_three_profiles_merge_into_one_in_one_event(tenant):
    crm = resolve(tenant, {"EXTERNAL": "cust-42"})
    newsletter = resolve(tenant, {"EMAIL": "ann@example.com"})
    app = resolve(tenant, {"DEVICE_KEY": "ios-1"})
    result = resolve(
        tenant, {"DEVICE_KEY": "ios-1", "EMAIL": "Ann@Example.com", "EXTERNAL": "cust-42", "PHONE": "020 7946 0958"}
    )
    assert result.profile_id == crm.profile_id
    assert result.merged_profiles == (newsletter.profile_id, app.profile_id)  # precedence order
    assert result.attached == ("PHONE",)
    assert live_profiles(tenant) == {crm.profile_id}
    assert set(Identifier.objects.filter(tenant=tenant).values_list("profile_id", flat=True)) == {crm.profile_id}
    entries = MergeLedgerEntry.objects.filter(tenant=tenant).order_by("id")
    assert [(e.merged_id, e.identifier_type, e.rule) for e in entries] == [
        (newsletter.profile_id, "EMAIL", MergeLedgerEntry.RULE_EXTERNAL_OWNER),
        (app.profile_id, "DEVICE_KEY", MergeLedgerEntry.RULE_EXTERNAL_OWNER),
    ]


def test_a_merged_external_id_counts_for_later_merges_in_the_same_event(tenant):
    # No EXTERNAL in the map; the EMAIL owner is primary; the PHONE owner brings cust-1,
    # so the DEVICE_KEY owner with cust-2 must be refused.
    email = resolve(tenant, {"EMAIL": "ann@example.com"})
    phone = resolve(tenant, {"EXTERNAL": "cust-1", "PHONE": "+442079460958"})
    device = resolve(tenant, {"EXTERNAL": "cust-2", "DEVICE_KEY": "dev-9"})
    result = resolve(tenant, {"EMAIL": "ann@example.com", "PHONE": "+442079460958", "DEVICE_KEY": "dev-9"})
    assert result.profile_id == email.profile_id
    assert result.merged_profiles == (phone.profile_id,)
    assert [(c.type, c.owner_profile_id) for c in result.conflicts] == [("DEVICE_KEY", device.profile_id)]
    assert owner(tenant, "EXTERNAL", "cust-1") == email.profile_id
    assert Identifier.objects.filter(tenant=tenant, profile_id=email.profile_id, type="EXTERNAL").count() == 1


def test_unmatched_identifiers_are_attached_to_the_primary(tenant):
    ann = resolve(tenant, {"EMAIL": "ann@example.com"})
    result = resolve(tenant, {"EMAIL": "ann@example.com", "PHONE": "+442079460958", "DEVICE_KEY": "dev-1"})
    assert result.profile_id == ann.profile_id
    assert result.attached == ("PHONE", "DEVICE_KEY")
    assert Identifier.objects.filter(profile_id=ann.profile_id).count() == 3


def test_blocked_values_never_merge_two_customers(tenant):
    ann = resolve(tenant, {"EMAIL": "ann@example.com", "DEVICE_KEY": "null"})
    bob = resolve(tenant, {"EMAIL": "bob@example.com", "DEVICE_KEY": "NULL"})
    assert ann.profile_id != bob.profile_id
    assert [(i.type, i.value, i.reason) for i in bob.ignored] == [("DEVICE_KEY", "NULL", "blocked")]
    assert bob.as_public()["ignored"] == [{"type": "DEVICE_KEY", "value": "NULL", "reason": "blocked"}]
    assert not Identifier.objects.filter(tenant=tenant, type="DEVICE_KEY").exists()
    assert MergeLedgerEntry.objects.count() == 0


def test_phone_in_international_and_national_notation_is_one_identifier(tenant):
    first = resolve(tenant, {"PHONE": "+44 20 7946 0958"})
    second = resolve(tenant, {"PHONE": "020 7946 0958"})
    assert second.profile_id == first.profile_id
    assert second.matched_by == "PHONE"
    assert list(Identifier.objects.filter(tenant=tenant).values_list("value", flat=True)) == ["+442079460958"]


def test_email_with_capitals_and_spaces_is_one_identifier(tenant):
    first = resolve(tenant, {"EMAIL": "Ann@Example.com "})
    second = resolve(tenant, {"EMAIL": "ann@example.com"})
    assert second.profile_id == first.profile_id
    assert list(Identifier.objects.filter(tenant=tenant).values_list("value", flat=True)) == ["ann@example.com"]


def test_identifiers_are_scoped_by_tenant(tenant, other_tenant):
    ours = resolve(tenant, {"EMAIL": "ann@example.com"})
    theirs = resolve(other_tenant, {"EMAIL": "ann@example.com"})
    assert ours.profile_id != theirs.profile_id
    assert theirs.created_profile is True


def test_the_same_input_against_the_same_state_gives_the_same_result(tenant):
    resolve(tenant, {"EXTERNAL": "cust-1", "EMAIL": "a@example.com"})
    resolve(tenant, {"PHONE": "+442079460958"})
    resolve(tenant, {"DEVICE_KEY": "dev-1"})
    identity = {"EMAIL": "a@example.com", "PHONE": "+442079460958", "DEVICE_KEY": "dev-1"}
    first = resolve(tenant, identity, dry_run=True)
    second = resolve(tenant, identity, dry_run=True)
    real = resolve(tenant, identity)
    assert first == second
    assert real.as_public() == first.as_public()
    assert real.profile_id == first.profile_id


def test_dry_run_changes_nothing_and_explains_the_same_decision(tenant):
    resolve(tenant, {"EXTERNAL": "cust-1"})
    resolve(tenant, {"EMAIL": "a@example.com"})
    counts = (Profile.objects.count(), Identifier.objects.count(), MergeLedgerEntry.objects.count())
    seen = list(Identifier.objects.values_list("last_seen_at", flat=True))
    identity = {"EXTERNAL": "cust-1", "EMAIL": "a@example.com", "PHONE": "+442079460958"}
    later = T0 + dt.timedelta(days=1)
    dry = resolve(tenant, identity, dry_run=True, occurred_at=later)
    assert (Profile.objects.count(), Identifier.objects.count(), MergeLedgerEntry.objects.count()) == counts
    assert list(Identifier.objects.values_list("last_seen_at", flat=True)) == seen
    real = resolve(tenant, identity, occurred_at=later)
    assert dry.as_public() == real.as_public()
    assert dry.profile_id == real.profile_id


def test_dry_run_of_a_new_profile_has_no_profile_id(tenant):
    dry = resolve(tenant, {"EMAIL": "new@example.com"}, dry_run=True)
    assert dry.profile_id is None
    assert dry.created_profile is True
    assert Profile.objects.count() == 0


def test_the_merged_profile_becomes_a_tombstone_that_answers_with_the_survivor(tenant):
    email = resolve(tenant, {"EMAIL": "a@example.com"})
    phone = resolve(tenant, {"PHONE": "+442079460958"})
    resolve(tenant, {"EMAIL": "a@example.com", "PHONE": "+442079460958"})
    tombstone = Profile.objects.get(pk=phone.profile_id)
    assert tombstone.merged_into_id == email.profile_id
    assert tombstone.merged_at is not None
    survivor, requested = profile_get_live(tenant_id=tenant.pk, profile_id=phone.profile_id)
    assert (survivor.pk, requested) == (email.profile_id, phone.profile_id)


def test_merge_chains_are_compressed_so_every_tombstone_points_at_a_live_profile(tenant):
    a = resolve(tenant, {"EXTERNAL": "cust-1"})
    b = resolve(tenant, {"EMAIL": "b@example.com"})
    c = resolve(tenant, {"PHONE": "+442079460958"})
    resolve(tenant, {"EMAIL": "b@example.com", "PHONE": "+442079460958"})  # c -> b
    assert Profile.objects.get(pk=c.profile_id).merged_into_id == b.profile_id
    resolve(tenant, {"EXTERNAL": "cust-1", "EMAIL": "b@example.com"})  # b -> a
    assert Profile.objects.get(pk=c.profile_id).merged_into_id == a.profile_id
    assert profile_get_live(tenant_id=tenant.pk, profile_id=c.profile_id)[0].pk == a.profile_id


def test_merge_keeps_the_latest_attribute_values_ties_go_to_the_survivor_and_losers_are_recorded(tenant):
    survivor = resolve(tenant, {"EXTERNAL": "cust-1"})
    merged = resolve(tenant, {"EMAIL": "a@example.com"})
    t1, t2 = T0, T0 + dt.timedelta(hours=1)
    with transaction.atomic():
        profile_attributes_apply(
            tenant_id=tenant.pk,
            profile_id=survivor.profile_id,
            attributes={"tier": "silver", "city": "Leeds", "vip": True},
            occurred_at=t1,
            source="crm",
        )
        profile_attributes_apply(
            tenant_id=tenant.pk,
            profile_id=merged.profile_id,
            attributes={"tier": "gold", "city": "York", "nickname": "Annie"},
            occurred_at=t2,
            source="shop",
        )
        profile_attributes_apply(
            tenant_id=tenant.pk, profile_id=merged.profile_id, attributes={"vip": False}, occurred_at=t1, source="shop"
        )
    resolve(tenant, {"EXTERNAL": "cust-1", "EMAIL": "a@example.com"}, trigger="event shop/o-1", source="shop")
    assert profile_attributes(profile_id=survivor.profile_id) == {
        "city": "York",
        "nickname": "Annie",
        "tier": "gold",
        "vip": True,  # equal occurredAt: the survivor's value stays
    }
    entry = MergeLedgerEntry.objects.get(tenant=tenant)
    assert (entry.survivor_id, entry.merged_id) == (survivor.profile_id, merged.profile_id)
    assert (entry.identifier_type, entry.identifier_value) == ("EMAIL", "a@example.com")
    assert (entry.rule, entry.matched_by, entry.trigger, entry.source) == (
        MergeLedgerEntry.RULE_EXTERNAL_OWNER,
        "EXTERNAL",
        "event shop/o-1",
        "shop",
    )
    assert (entry.moved["identifiers"], entry.moved["attributes"]) == (1, 3)  # higher apps add their counts
    assert entry.moved_identifiers == [{"type": "EMAIL", "value": "a@example.com"}]
    assert sorted(entry.taken_attributes) == ["city", "nickname", "tier"]
    assert sorted((item["name"], item["value"], item["from"]) for item in entry.lost_attributes) == [
        ("city", "Leeds", "survivor"),
        ("tier", "silver", "survivor"),
        ("vip", False, "merged"),
    ]


def test_identifiers_remember_first_source_and_first_and_last_seen(tenant):
    resolve(tenant, {"EMAIL": "a@example.com"}, source="crm", occurred_at=T0)
    resolve(tenant, {"EMAIL": "a@example.com"}, source="shop", occurred_at=T0 + dt.timedelta(days=2))
    resolve(tenant, {"EMAIL": "a@example.com"}, source="shop", occurred_at=T0 - dt.timedelta(days=1))
    identifier = Identifier.objects.get(tenant=tenant)
    assert identifier.source == "crm"
    assert identifier.first_seen_at == T0 - dt.timedelta(days=1)
    assert identifier.last_seen_at == T0 + dt.timedelta(days=2)


def test_resolution_outside_a_transaction_is_a_programming_error(tenant, django_db_blocker):
    normalized = identity_normalize(tenant=tenant, identity={"EMAIL": "a@example.com"})
    # pytest-django wraps each test in an atomic block; leave it to see the guard.
    from django.db import connection

    connection.in_atomic_block, saved = False, connection.in_atomic_block
    try:
        with pytest.raises(RuntimeError, match="inside the caller's transaction"):
            identity_resolve(tenant=tenant, identity=normalized, occurred_at=T0, source="s", trigger="t")
    finally:
        connection.in_atomic_block = saved


def test_an_identity_with_problems_is_refused_by_the_resolver(tenant):
    normalized = identity_normalize(tenant=tenant, identity={"EMAIL": "nope", "EXTERNAL": "cust-1"})
    with pytest.raises(ProblemError) as raised, transaction.atomic():
        identity_resolve(tenant=tenant, identity=normalized, occurred_at=T0, source="s", trigger="t")
    assert (raised.value.status, raised.value.code) == (422, "invalid_identity")
    assert Profile.objects.count() == 0


def test_merge_handlers_run_after_identifiers_moved_and_their_counts_are_recorded(tenant):
    survivor = resolve(tenant, {"EXTERNAL": "cust-1"}).profile_id
    merged = resolve(tenant, {"EMAIL": "a@example.com"}).profile_id
    calls = []

    def move_widgets(*, tenant_id, pairs):
        for merged_id, survivor_id in pairs:
            left_behind = Identifier.objects.filter(profile_id=merged_id).count()
            calls.append((tenant_id, survivor_id, merged_id, left_behind))
        return {merged_id: {"widgets": 4} for merged_id, _ in pairs}

    register_merge_handler("tests.widgets", move_widgets)
    try:
        resolve(tenant, {"EXTERNAL": "cust-1", "EMAIL": "a@example.com"})
    finally:
        unregister_merge_handler("tests.widgets")
    assert calls == [(tenant.pk, survivor, merged, 0)]
    assert MergeLedgerEntry.objects.get().moved["widgets"] == 4


def test_resolving_a_known_customer_costs_a_handful_of_queries(tenant, django_assert_max_num_queries):
    resolve(tenant, {"EXTERNAL": "cust-1", "EMAIL": "a@example.com"})
    normalized = identity_normalize(tenant=tenant, identity={"EXTERNAL": "cust-1", "EMAIL": "a@example.com"})
    later = T0 + dt.timedelta(days=1)
    # lock keys, read owners, lock profiles, re-read owners, read EXTERNALs, touch last_seen (+ savepoint pair)
    with django_assert_max_num_queries(8), transaction.atomic():
        identity_resolve(tenant=tenant, identity=normalized, occurred_at=later, source="s", trigger="t")
