"""Concurrent channel updates with real threads against PostgreSQL: one endpoint is one
row with one owner, each profile keeps one active endpoint per channel, and merges that
race with takeovers leave no endpoint on a tombstone (DESIGN.md §5, §8)."""

from __future__ import annotations

import pytest
from django.db.models import Count, Q

from channels.models import Endpoint
from conftest import make_client, threads_run
from profiles.models import Profile

from .helpers import at, channel_update, post

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


def _invariants():
    live = set(Profile.objects.filter(merged_into__isnull=True).values_list("pk", flat=True))
    assert set(Endpoint.objects.values_list("profile_id", flat=True)) <= live
    per_channel = Endpoint.objects.values("profile_id", "channel").annotate(active=Count("pk", filter=Q(active=True)))
    for row in per_channel:
        assert row["active"] == 1, row


def test_eight_profiles_declaring_one_new_number_at_once_leave_one_endpoint_with_one_owner(
    tenant, key_factory, crm, base_time
):
    key = key_factory(tenant, ["ingest"]).plaintext

    def work(index):
        body = channel_update(
            {"EXTERNAL": f"cust-{index}"}, "SMS", "07400 123456", at(base_time, index), consent="granted"
        )
        return post(make_client(key), body).status_code

    assert threads_run(8, work) == [201] * 8
    endpoint = Endpoint.objects.get()
    # The latest declaration owns it, whatever order the threads committed in.
    owner = Profile.objects.get(pk=endpoint.profile_id)
    assert owner.identifiers.get().value == "cust-7"
    assert endpoint.consent == "granted"
    _invariants()


def test_takeovers_and_merges_racing_keep_one_active_endpoint_per_profile_and_channel(
    tenant, key_factory, crm, base_time
):
    key = key_factory(tenant, ["ingest"]).plaintext
    client = make_client(key)
    # Four profiles, each with two email addresses.
    for n in range(4):
        for m in range(2):
            body = channel_update({"EXTERNAL": f"c{n}"}, "EMAIL", f"a{n}{m}@example.com", at(base_time, m))
            assert post(client, body).status_code == 201
        body = channel_update({"DEVICE_KEY": f"d{n}"}, "EMAIL", f"d{n}@example.com", at(base_time, 3))
        assert post(client, body).status_code == 201

    def work(index):
        n = index % 4
        if index < 4:  # take over another profile's address
            body = channel_update({"EXTERNAL": f"c{n}"}, "EMAIL", f"a{(n + 1) % 4}0@example.com", at(base_time, 10))
        else:  # merge the device profile into the customer
            body = channel_update({"EXTERNAL": f"c{n}", "DEVICE_KEY": f"d{n}"}, "PUSH", f"t{n}", at(base_time, 11))
        return post(make_client(key), body).status_code

    assert threads_run(8, work) == [201] * 8
    assert Endpoint.objects.count() == 16
    _invariants()
