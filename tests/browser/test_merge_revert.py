"""Reverting a wrong merge from the console, in a real browser: the operator opens the merge
on the ledger, reads the preview in words, confirms, and lands on the restored customer."""

from __future__ import annotations

from identity.models import Identifier
from profiles.models import MergeLedgerEntry, Profile
from tenants.services import operator_create, tenant_create

from .conftest import PASSWORD, assert_within_viewport, login


def _mia_merge() -> MergeLedgerEntry:
    device = Identifier.objects.get(type="DEVICE_KEY", value="demo-device-mia")
    return MergeLedgerEntry.objects.get(
        merged_id__in=Profile.objects.filter(merged_into=device.profile_id).values("pk")
    )


def test_an_operator_reverts_a_merge_after_reading_the_preview(page, live_server, demo):
    operator_create(tenant=demo, username="ops-demo", password=PASSWORD)
    entry = _mia_merge()
    login(page, live_server, "ops-demo")
    page.goto(f"{live_server.url}/admin/profiles/mergeledgerentry/{entry.pk}/change/")

    page.click("text=Revert this merge")

    preview = page.inner_text("#revert-preview")
    assert f"profile {entry.merged_id} becomes a customer of its own again with DEVICE_KEY demo-device-mia" in preview
    assert "never merged again" in preview
    assert Profile.objects.get(pk=entry.merged_id).merged_into_id == entry.survivor_id  # the preview changed nothing
    assert_within_viewport(page, "#content-main")

    page.click("#confirm-revert")

    page.wait_for_selector(".messagelist")
    assert f"Merge {entry.pk} was reverted" in page.inner_text(".messagelist")
    assert f"/admin/profiles/profile/{entry.merged_id}/change/" in page.url
    assert Profile.objects.get(pk=entry.merged_id).merged_into_id is None
    assert Identifier.objects.get(value="demo-device-mia").profile_id == entry.merged_id
    # Reverted once: the entry offers no second revert, and the ledger lists the revert.
    page.goto(f"{live_server.url}/admin/profiles/mergeledgerentry/{entry.pk}/change/")
    assert page.locator("text=Revert this merge").count() == 0
    assert MergeLedgerEntry.objects.filter(reverts=entry.pk, rule="revert").count() == 1


def test_another_tenants_operator_cannot_reach_the_revert(page, live_server, demo):
    other = tenant_create(slug="globex", name="Globex")
    operator_create(tenant=other, username="ops-globex", password=PASSWORD)
    entry = _mia_merge()
    login(page, live_server, "ops-globex")
    response = page.goto(f"{live_server.url}/admin/profiles/mergeledgerentry/{entry.pk}/revert/")
    assert response.status == 404
    assert Profile.objects.get(pk=entry.merged_id).merged_into_id == entry.survivor_id
