"""Erasure in the ops console: request one by an identifier as typed, read its receipt;
the suppression list shows no value."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model

from jobs.worker import jobs_run_pending
from privacy.models import Erasure

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-for-tests-only")
    client.force_login(user)
    return client


def _form_fields(html: str) -> set[str]:
    return set(re.findall(r'name="([a-z_]+)"', html))


def test_ops_request_an_erasure_by_email_and_read_its_receipt(staff_client, ann, tenant):
    page = staff_client.get("/admin/privacy/erasure/add/")
    assert page.status_code == 200
    fields = _form_fields(page.content.decode())
    assert {"tenant", "identifier_type", "identifier_value", "reason", "suppress"} <= fields
    response = staff_client.post(
        "/admin/privacy/erasure/add/",
        {
            "tenant": tenant.pk,
            "identifier_type": "EMAIL",
            "identifier_value": " Ann@Example.com ",
            "reason": "ticket 4711",
            "suppress": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    erasure = Erasure.objects.get()
    assert erasure.reason == "ticket 4711" and erasure.suppress and erasure.requested_by == "admin ops"
    jobs_run_pending()
    detail = staff_client.get(f"/admin/privacy/erasure/{erasure.pk}/change/").content.decode()
    assert "succeeded" in detail and "3 events" in detail and "2 profiles" in detail
    listing = staff_client.get("/admin/identity/suppression/").content.decode()
    assert "EMAIL" in listing and "ticket 4711" in listing
    assert "ann@example.com" not in listing.lower() and "cust-1" not in listing


def test_an_identifier_nobody_has_is_refused_on_the_form(staff_client, ann, tenant):
    response = staff_client.post(
        "/admin/privacy/erasure/add/",
        {"tenant": tenant.pk, "identifier_type": "EMAIL", "identifier_value": "nobody@example.com", "reason": ""},
    )
    assert response.status_code == 200
    assert "No customer of this tenant has this identifier." in response.content.decode()
    bad = staff_client.post(
        "/admin/privacy/erasure/add/",
        {"tenant": tenant.pk, "identifier_type": "EMAIL", "identifier_value": "not an email"},
    )
    assert "is not a valid email address" in bad.content.decode()
    assert not Erasure.objects.exists()
