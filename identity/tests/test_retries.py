"""run_with_retries: a lost race is retried; a persistent one becomes 503 busy."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from cdp_project.core.errors import ProblemError
from cdp_project.core.retries import run_with_retries
from identity.models import Identifier
from profiles.models import Profile

from .factories import resolve

pytestmark = pytest.mark.django_db


def insert_identifier(tenant, value):
    now = timezone.now()
    profile = Profile.objects.create(tenant=tenant)
    return Identifier.objects.create(
        tenant=tenant, profile=profile, type="EMAIL", value=value, first_seen_at=now, last_seen_at=now
    )


def test_a_concurrent_insert_of_the_same_identifier_is_retried_and_rolled_back_each_time(tenant):
    resolve(tenant, {"EMAIL": "taken@example.com"})
    attempts = []

    def work():
        with transaction.atomic(durable=True):
            attempts.append(1)
            value = "taken@example.com" if len(attempts) == 1 else "free@example.com"
            return insert_identifier(tenant, value).value

    assert run_with_retries(work) == "free@example.com"
    assert len(attempts) == 2
    # The failed attempt left nothing behind: two identifiers, two profiles.
    assert Identifier.objects.filter(tenant=tenant).count() == 2
    assert Profile.objects.filter(tenant=tenant).count() == 2


def test_a_race_lost_on_every_attempt_answers_503_busy_with_retry_after(tenant):
    resolve(tenant, {"EMAIL": "taken@example.com"})
    attempts = []

    def work():
        with transaction.atomic(durable=True):
            attempts.append(1)
            insert_identifier(tenant, "taken@example.com")

    with pytest.raises(ProblemError) as raised:
        run_with_retries(work, attempts=3)
    assert len(attempts) == 3
    assert (raised.value.status, raised.value.code, raised.value.headers) == (503, "busy", {"Retry-After": "1"})


def test_other_integrity_errors_are_not_retried(tenant):
    attempts = []

    def work():
        with transaction.atomic(durable=True):
            attempts.append(1)
            Profile.objects.create(tenant=tenant, merged_at=timezone.now())  # violates a check constraint

    with pytest.raises(IntegrityError):
        run_with_retries(work)
    assert len(attempts) == 1
