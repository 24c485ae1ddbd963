"""The readiness selectors that the runtime and exports call."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction

from channels.selectors import profile_readiness, profiles_readiness, readiness_judge
from channels.services import channel_update_apply
from channels.types import READINESS_REASONS, ChannelUpdateSpec, Readiness
from identity.tests.factories import T0, resolve
from profiles.models import Profile

pytestmark = pytest.mark.django_db


def _declare(tenant, profile_id, channel, address, *, minutes=0, **fields):
    with transaction.atomic():
        return channel_update_apply(
            tenant_id=tenant.pk,
            profile_id=profile_id,
            spec=ChannelUpdateSpec(channel=channel, address=address, **fields),
            occurred_at=T0 + dt.timedelta(minutes=minutes),
            source="crm",
            trigger="test",
        )


def test_readiness_reasons_are_the_public_ones():
    assert set(READINESS_REASONS) == {
        "no_endpoint",
        "no_consent",
        "consent_pending",
        "bounced",
        "unreachable",
        "not_mobile",
    }
    assert Readiness(ready=False, reason="bounced").as_public() == {"ready": False, "reason": "bounced"}
    assert readiness_judge(channel="EMAIL", endpoint=None) == Readiness(ready=False, reason="no_endpoint")


def test_profile_readiness_answers_every_channel_in_one_query(tenant, django_assert_num_queries):
    ann = resolve(tenant, {"EXTERNAL": "ann"}).profile_id
    _declare(tenant, ann, "EMAIL", "ann@example.com", consent="granted")
    _declare(tenant, ann, "SMS", "+442079460958", consent="granted")
    with django_assert_num_queries(1):
        readiness = profile_readiness(tenant_id=tenant.pk, profile_id=ann)
    assert readiness == {
        "EMAIL": Readiness(ready=True),
        "SMS": Readiness(ready=False, reason="not_mobile"),
        "PUSH": Readiness(ready=False, reason="no_endpoint"),
        "WHATSAPP": Readiness(ready=False, reason="no_endpoint"),
    }


def _population(tenant, size):
    ids = []
    for number in range(size):
        profile_id = resolve(tenant, {"EXTERNAL": f"cust-{number}"}).profile_id
        consent = ("granted", "denied", "pending", None)[number % 4]
        if number % 5:
            _declare(tenant, profile_id, "EMAIL", f"c{number}@example.com", consent=consent)
        ids.append(profile_id)
    return ids


@pytest.mark.parametrize("size", [4, 40])
def test_many_profiles_cost_one_query_whatever_their_number(tenant, django_assert_num_queries, size):
    ids = _population(tenant, size)
    with django_assert_num_queries(1):
        answers = profiles_readiness(tenant_id=tenant.pk, profile_ids=iter(ids), channel="EMAIL")
    assert set(answers) == set(ids)
    for number, profile_id in enumerate(ids):
        expected = profile_readiness(tenant_id=tenant.pk, profile_id=profile_id)["EMAIL"]
        assert answers[profile_id] == expected, number


def test_a_queryset_of_profile_ids_is_used_as_a_subquery(tenant, django_assert_num_queries):
    ids = _population(tenant, 12)
    profiles = Profile.objects.filter(tenant=tenant).values_list("pk", flat=True)
    with django_assert_num_queries(2):  # the endpoints by subquery, and the ids themselves
        answers = profiles_readiness(tenant_id=tenant.pk, profile_ids=profiles, channel="EMAIL")
    assert set(answers) == set(ids)
    assert sum(r.ready for r in answers.values()) == 2  # numbers 4 and 8: declared, consent granted
