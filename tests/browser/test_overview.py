"""The overview ops open first, and the profile page, in a real headless Chromium at 1280 px."""

from __future__ import annotations

import pytest

from identity.models import Identifier
from profiles.models import Profile

from .conftest import PASSWORD, assert_within_viewport, login

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_overview_shows_what_arrived_what_was_refused_and_what_to_review(superuser_page, live_server):
    page = superuser_page
    page.goto(f"{live_server.url}/admin/")
    streams = page.inner_text("#overview-streams")
    assert "order_completed" in streams and "shop-backend" in streams
    rows = {
        tuple(cells[:2]): cells
        for cells in (row.locator("td").all_inner_texts() for row in page.locator("#overview-streams tbody tr").all())
    }
    # 4 demo orders accepted, 1 refused (a total sent as text); charts drawn as inline SVG.
    assert rows[("shop-backend", "order_completed")][2:6] == ["4", "4", "1", "1"]
    assert page.locator("#overview-streams svg.spark").count() == len(rows)
    assert page.locator("#tile-merges .big").inner_text() == "1"
    assert page.locator("#tile-conflicts .big").inner_text() == "1"
    codes = page.inner_text("#overview-codes")
    assert "unknown_event_type" in codes
    # People, not UUIDs: the conflict names customers by their EXTERNAL id.
    assert "demo-cust-4" in page.inner_text("#overview-conflicts")
    assert_within_viewport(page, "#overview table")
    assert "DESIGN.md" not in page.content()


def test_an_operator_sees_the_overview_of_their_tenant_only(page, live_server, demo):
    from tenants.services import operator_create, tenant_create

    other = tenant_create(slug="globex", name="Globex")
    operator_create(tenant=other, username="ops-globex", password=PASSWORD)
    login(page, live_server, "ops-globex")
    page.goto(f"{live_server.url}/admin/")
    assert "Overview — Globex" in page.inner_text("h1")
    assert "Nothing arrived" in page.inner_text("#overview-streams")
    assert page.locator("#tile-conflicts .big").inner_text() == "0"


def test_the_profile_page_names_the_customer_and_explains_itself_without_jargon(superuser_page, live_server):
    page = superuser_page
    profile = Profile.objects.get(pk=Identifier.objects.get(type="EXTERNAL", value="demo-cust-3").profile_id)
    page.goto(f"{live_server.url}/admin/profiles/profile/{profile.pk}/change/")
    assert page.inner_text("#profile-customer") == "demo-cust-3"
    history = page.inner_text("#profile-merge-history")
    assert "demo-device-mia" in history
    content = page.inner_text("#content-main")
    assert "DESIGN.md" not in content and "§" not in content
    assert "idempotency" not in content.lower()
    assert_within_viewport(page, "#content table")
