"""Property-based: random sequences of identity maps never break the identity invariants,
and replaying a sequence on an empty tenant partitions the identifiers the same way."""

from __future__ import annotations

import itertools

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tenants.services import tenant_create

from .factories import resolve
from .invariants import assert_identity_invariants, identifier_partition

pytestmark = pytest.mark.django_db

POOLS = {
    "EXTERNAL": ["cust-1", "cust-2", "cust-3"],
    "EMAIL": ["a@example.com", "B@Example.com ", "c@example.com", "null"],
    "PHONE": ["+44 20 7946 0958", "020 7946 0959", "+442079460960"],
    "DEVICE_KEY": ["dev-1", "dev-2", "dev-3", "anonymous"],
}

identity_maps = st.fixed_dictionaries(
    {},
    optional={type: st.sampled_from(values) for type, values in POOLS.items()},
).filter(lambda m: any(v not in ("null", "anonymous") for v in m.values()))

_slugs = itertools.count(1)


def fresh_tenant():
    return tenant_create(slug=f"prop-{next(_slugs)}", name="Property tenant", default_region="GB")


def replay(tenant, sequence, *, check_each_step=False):
    results = []
    for identity in sequence:
        dry = resolve(tenant, identity, dry_run=True)
        real = resolve(tenant, identity)
        assert dry.as_public() == real.as_public(), "the dry run predicted a different resolution"
        assert dry.profile_id in (None, real.profile_id)
        public = real.as_public()
        results.append(
            (public["matchedBy"], public["createdProfile"], len(public["mergedProfiles"]), tuple(public["attached"]))
            + tuple((c["type"], c["reason"]) for c in public["conflicts"])
        )
        if check_each_step:
            assert_identity_invariants(tenant)
    return results


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=st.lists(identity_maps, min_size=1, max_size=10))
def test_random_sequences_keep_the_invariants_and_replay_to_the_same_partition(db, sequence):
    savepoint = transaction.savepoint()
    try:
        first, second = fresh_tenant(), fresh_tenant()
        explained = replay(first, sequence, check_each_step=True)
        assert replay(second, sequence) == explained
        assert identifier_partition(first) == identifier_partition(second)
        assert_identity_invariants(second)
    finally:
        transaction.savepoint_rollback(savepoint)


def _explain(resolution):
    public = resolution.as_public()
    return (
        public["matchedBy"],
        public["createdProfile"],
        len(public["mergedProfiles"]),
        tuple(public["attached"]),
        tuple((c["type"], c["reason"]) for c in public["conflicts"]),
        tuple((i["type"], i["reason"]) for i in public["ignored"]),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=st.lists(identity_maps, min_size=1, max_size=12), cut=st.integers(min_value=0, max_value=12))
def test_batch_resolution_decides_exactly_as_one_by_one(db, sequence, cut):
    """identities_resolve (the set-based ingest path) is a pure optimisation: the same
    explanations, the same partition, the same invariants as identity_resolve in turn."""
    from identity.normalization import identity_normalize
    from identity.resolver import ResolveRequest, identities_resolve

    savepoint = transaction.savepoint()
    try:
        one_by_one, batched = fresh_tenant(), fresh_tenant()
        expected = []
        for identity in sequence:
            expected.append(_explain(resolve(one_by_one, identity)))
        got = []
        for chunk in (sequence[:cut], sequence[cut:]):  # two batches, the second seeing the first's state
            requests = [
                ResolveRequest(
                    identity=identity_normalize(tenant=batched, identity=identity),
                    occurred_at=timezone.now(),
                    source="test",
                    trigger="batch",
                )
                for identity in chunk
            ]
            with transaction.atomic():
                got.extend(_explain(r) for r in identities_resolve(tenant=batched, requests=requests))
        assert got == expected
        assert identifier_partition(batched) == identifier_partition(one_by_one)
        assert_identity_invariants(batched)
    finally:
        transaction.savepoint_rollback(savepoint)


# Merge-heavy batches: every profile starts with a single identifier, so nearly every map
# of the batch merges; profile updates ride along with exact-tie timestamps, which is where
# the order of merges and attribute updates shows.
SINGLES = [{type: value} for type, values in POOLS.items() for value in values if value not in ("null", "anonymous")]
attribute_updates = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={"tier": st.sampled_from(["silver", "gold", None]), "city": st.sampled_from(["Oslo", "Rome"])},
    ),
)
merge_heavy = st.lists(
    st.tuples(identity_maps, attribute_updates, st.integers(min_value=0, max_value=2)), min_size=1, max_size=14
)


def _attributes_by_group(tenant):
    from identity.models import Identifier
    from profiles.models import AttributeValue

    groups: dict[object, set] = {}
    for type, value, profile_id in Identifier.objects.filter(tenant=tenant).values_list("type", "value", "profile_id"):
        groups.setdefault(profile_id, set()).add((type, value))
    attributes: dict[object, set] = {}
    for row in AttributeValue.objects.filter(tenant=tenant):
        attributes.setdefault(row.profile_id, set()).add((row.name, repr(row.value), row.occurred_at, row.source))
    return {frozenset(keys): frozenset(attributes.get(pid, ())) for pid, keys in groups.items()}


def _ledger(tenant):
    from profiles.models import MergeLedgerEntry

    return sorted(
        (
            e.rule,
            e.identifier_type,
            e.identifier_value,
            repr(e.moved_identifiers),
            repr(e.taken_attributes),
            repr(sorted(e.lost_attributes, key=repr)),
            e.moved.get("identifiers"),
            e.moved.get("attributes"),
        )
        for e in MergeLedgerEntry.objects.filter(tenant=tenant)
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=merge_heavy, seeds=st.sets(st.sampled_from(range(len(SINGLES))), min_size=3))
def test_merge_heavy_batches_with_attributes_match_one_by_one(db, sequence, seeds):
    """Merges planned and applied set-based (identities_resolve) leave the same profiles,
    the same attribute values and the same ledger as resolving and updating one by one."""
    import datetime as dt

    from identity.normalization import identity_normalize
    from identity.resolver import ResolveRequest, identities_resolve
    from profiles.services import profile_attributes_apply

    from .factories import T0

    savepoint = transaction.savepoint()
    try:
        one_by_one, batched = fresh_tenant(), fresh_tenant()
        start = [SINGLES[i] for i in sorted(seeds)]
        for tenant in (one_by_one, batched):
            for identity in start:
                resolve(tenant, identity, source="seed")
        expected = []
        for identity, attributes, minutes in sequence:
            at = T0 + dt.timedelta(minutes=minutes)
            resolution = resolve(one_by_one, identity, occurred_at=at, source="s", trigger="t")
            if attributes is not None:
                with transaction.atomic():
                    profile_attributes_apply(
                        tenant_id=one_by_one.pk,
                        profile_id=resolution.profile_id,
                        attributes=attributes,
                        occurred_at=at,
                        source="s",
                    )
            expected.append(_explain(resolution))
        requests = [
            ResolveRequest(
                identity=identity_normalize(tenant=batched, identity=identity),
                occurred_at=T0 + dt.timedelta(minutes=minutes),
                source="s",
                trigger="t",
                attributes=attributes,
            )
            for identity, attributes, minutes in sequence
        ]
        with transaction.atomic():
            got = [_explain(r) for r in identities_resolve(tenant=batched, requests=requests)]
        assert got == expected
        assert identifier_partition(batched) == identifier_partition(one_by_one)
        assert_identity_invariants(batched)
        assert _attributes_by_group(batched) == _attributes_by_group(one_by_one)
        assert _ledger(batched) == _ledger(one_by_one)
    finally:
        transaction.savepoint_rollback(savepoint)
