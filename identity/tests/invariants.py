"""The identity invariants every test of resolution checks against the database."""

from __future__ import annotations

from collections import Counter, defaultdict

from identity.models import Identifier
from profiles.models import MergeLedgerEntry, Profile
from profiles.selectors import profile_get_live


def assert_identity_invariants(tenant) -> None:
    profiles = {p.pk: p for p in Profile.objects.filter(tenant=tenant)}
    live = {pk for pk, p in profiles.items() if p.merged_into_id is None}
    identifiers = list(Identifier.objects.filter(tenant=tenant))
    keys = Counter((i.type, i.value) for i in identifiers)
    assert all(count == 1 for count in keys.values()), "an identifier is owned twice"
    assert all(i.profile_id in live for i in identifiers), "an identifier points at a tombstone"
    externals = Counter(i.profile_id for i in identifiers if i.type == "EXTERNAL")
    assert all(count == 1 for count in externals.values()), "a profile holds two EXTERNAL ids"
    owners = {i.profile_id for i in identifiers}
    assert live <= owners, "a live profile owns no identifier (an orphan)"
    merged_ids = Counter(MergeLedgerEntry.objects.filter(tenant=tenant).values_list("merged_id", flat=True))
    for pk, profile in profiles.items():
        if profile.merged_into_id is None:
            continue
        survivor, requested = profile_get_live(tenant_id=tenant.pk, profile_id=pk)
        assert survivor.pk in live and requested == pk, "a tombstone does not resolve to a live profile"
        assert profile.merged_into_id in live, "a merge chain was not compressed"
        assert merged_ids[pk] == 1, "a tombstone without exactly one ledger entry"


def identifier_partition(tenant) -> frozenset[frozenset[tuple[str, str]]]:
    """Which identifiers belong together, independent of profile ids."""
    groups: dict[object, set[tuple[str, str]]] = defaultdict(set)
    for type, value, profile_id in Identifier.objects.filter(tenant=tenant).values_list("type", "value", "profile_id"):
        groups[profile_id].add((type, value))
    return frozenset(frozenset(group) for group in groups.values())
