"""The contract editor as marketing ops use it, in a real headless Chromium at 1280 px:
saving with the untouched spare row, adding, editing and removing properties and enum
values, and confirming a breaking change right where it is listed."""

from __future__ import annotations

import pytest

from contracts.models import EventType, EventTypeVersion

from .conftest import assert_within_viewport

pytestmark = pytest.mark.django_db(transaction=True)


def _change_url(live_server, event_type: EventType) -> str:
    return f"{live_server.url}/admin/contracts/eventtype/{event_type.pk}/change/"


def _save(page, button: str = "input[name=_save]") -> None:
    with page.expect_navigation():
        page.click(button)


def _errors(page) -> list[str]:
    return page.locator(".errorlist, .errornote").all_inner_texts()


def test_every_demo_event_type_saves_unchanged_with_its_spare_row(superuser_page, live_server, demo):
    page = superuser_page
    event_types = list(EventType.objects.filter(tenant=demo).order_by("name"))
    assert len(event_types) == 4
    for event_type in event_types:
        page.goto(_change_url(live_server, event_type))
        spare = page.locator("#properties-group tr.form-row:not(.has_original):not(.empty-form)")
        assert spare.count() == 1, f"{event_type.name}: the spare row is missing"
        _save(page)
        assert page.url.endswith("/admin/contracts/eventtype/"), (event_type.name, _errors(page))
        assert "was changed successfully" in page.inner_text(".messagelist")
        event_type.refresh_from_db()
        assert event_type.version == 1, f"{event_type.name}: an unchanged save made a new version"


def test_the_add_page_saves_a_new_event_type_with_an_untouched_spare_row(superuser_page, live_server, demo):
    page = superuser_page
    page.goto(f"{live_server.url}/admin/contracts/eventtype/add/")
    page.select_option("#id_tenant", str(demo.pk))
    page.fill("#id_name", "wishlist_added")
    page.fill("input[name=properties-0-name]", "productId")
    page.select_option("select[name=properties-0-type]", "string")
    page.check("input[name=properties-0-required]")
    page.click("#properties-group .add-row a")  # a second, untouched row
    assert page.locator("input[name=properties-1-name]").count() == 1
    _save(page)
    assert page.url.endswith("/admin/contracts/eventtype/"), _errors(page)
    created = EventType.objects.get(tenant=demo, name="wishlist_added")
    assert [(p.name, p.type, p.required) for p in created.properties.all()] == [("productId", "string", True)]


def test_ops_add_edit_and_remove_properties_and_confirm_a_breaking_change_next_to_its_warning(
    superuser_page, live_server, demo
):
    page = superuser_page
    event_type = EventType.objects.get(tenant=demo, name="order_completed")
    page.goto(_change_url(live_server, event_type))
    # Nothing is cut off at 1280 px: every column, "Delete?" included.
    assert_within_viewport(page, "#properties-group th")
    assert_within_viewport(page, "#properties-group td.delete input[type=checkbox]")
    assert_within_viewport(page, "#properties-group input[name$='-description']")

    rows = {
        page.input_value(f"input[name=properties-{i}-name]"): i
        for i in range(page.locator("#properties-group tr.has_original").count())
    }
    # Edit an enum (a value more) and add an optional property in the spare row: not breaking.
    page.fill(f"input[name=properties-{rows['currency']}-values]", "EUR, USD, GBP, CHF")
    spare = len(rows)
    page.fill(f"input[name=properties-{spare}-name]", "coupon")
    page.select_option(f"select[name=properties-{spare}-type]", "string")
    page.fill(f"input[name=properties-{spare}-max_length]", "32")
    _save(page, "input[name=_continue]")
    assert "was changed successfully" in page.inner_text(".messagelist"), _errors(page)
    event_type.refresh_from_db()
    assert event_type.version == 2
    currency = event_type.properties.get(name="currency")
    assert currency.values == ["EUR", "USD", "GBP", "CHF"]
    assert event_type.properties.get(name="coupon").max_length == 32

    # Remove a property and drop an enum value: breaking, so the page asks first.
    rows = {
        page.input_value(f"input[name=properties-{i}-name]"): i
        for i in range(page.locator("#properties-group tr.has_original").count())
    }
    page.check(f"input[name=properties-{rows['items']}-DELETE]")
    page.fill(f"input[name=properties-{rows['currency']}-values]", "EUR, USD, GBP")
    _save(page, "input[name=_continue]")
    warning = page.locator("#breaking-changes")
    assert warning.is_visible()
    text = warning.inner_text()
    assert "'items' is removed" in text and "'currency' no longer accepts CHF" in text
    event_type.refresh_from_db()
    assert event_type.version == 2, "nothing is saved before the confirmation"
    # The confirmation sits inside the warning it confirms, next to the save buttons.
    box, checkbox = warning.bounding_box(), page.locator("#id_confirm_breaking_changes").bounding_box()
    assert box["y"] <= checkbox["y"] <= box["y"] + box["height"]
    assert_within_viewport(page, "#breaking-changes")
    submit = page.locator(".submit-row").bounding_box()
    assert 0 <= submit["y"] - (box["y"] + box["height"]) < 200
    # The form kept what ops typed; tick the box and save.
    assert page.is_checked(f"input[name=properties-{rows['items']}-DELETE]")
    page.check("#id_confirm_breaking_changes")
    _save(page, "input[name=_continue]")
    assert "was changed successfully" in page.inner_text(".messagelist"), _errors(page)
    event_type.refresh_from_db()
    assert event_type.version == 3
    assert sorted(event_type.properties.values_list("name", flat=True)) == ["coupon", "currency", "orderId", "total"]

    # The history says what changed, in words, with a human time and its zone.
    page.click("text=Version history")
    page.wait_for_selector("#version-3")
    v2, v3 = page.inner_text("#version-2"), page.inner_text("#version-3")
    assert "Added 'coupon' (string, optional)." in v2
    assert "Changed 'currency': accepts CHF." in v2
    assert "Removed 'items'." in v3 and "no longer accepts CHF" in v3
    assert "at most 32 characters" in v3 and "one of EUR, USD, GBP" in v3
    assert "dict_values" not in page.content() and "orderId, string" not in page.content()
    assert " UTC" in page.inner_text("#version-1 h2")
    assert EventTypeVersion.objects.filter(event_type=event_type).count() == 3
