"""Invisible Unicode format characters are refused in EXTERNAL and DEVICE_KEY values (they
make two ids that look identical differ); a phone number with an extension is another
identifier than the bare number (issue 11 item 9, docs/identity.md)."""

from __future__ import annotations

import pytest

from identity.models import Identifier
from ingest.models import Event

pytestmark = pytest.mark.django_db

INVISIBLE = ["\u200b", "\u202e", "\u200d", "\ufeff", "\u2060", "\u00ad"]


@pytest.mark.parametrize("char", INVISIBLE, ids=[f"U+{ord(c):04X}" for c in INVISIBLE])
@pytest.mark.parametrize("type_", ["EXTERNAL", "DEVICE_KEY"])
def test_an_invisible_format_character_in_a_key_is_422(api, event, type_, char):
    event["identity"] = {type_: f"cust{char}-42"}
    response = api.post("/api/v1/events", event, format="json")
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "invalid_identity"
    (error,) = response.json()["errors"]
    assert error["pointer"] == f"/identity/{type_}"
    assert f"U+{ord(char):04X}" in error["detail"]
    assert Event.objects.count() == 0


def test_a_lookup_by_an_id_with_an_invisible_character_is_422(api):
    response = api.get("/api/v1/profiles", {"identifierType": "EXTERNAL", "identifierValue": "cust\u200b-42"})
    assert response.status_code == 422


def test_visible_non_ascii_ids_are_still_accepted(api, event):
    event["identity"] = {"EXTERNAL": "kunde-müller-東京"}
    assert api.post("/api/v1/events", event, format="json").status_code == 201


def test_a_phone_with_an_extension_is_another_identifier_than_the_bare_number(api, event):
    event["identity"] = {"PHONE": "+44 20 7946 0958 ext. 12"}
    first = api.post("/api/v1/events", event, format="json").json()
    event.update(externalEventId="second", identity={"PHONE": "+44 20 7946 0958"})
    second = api.post("/api/v1/events", event, format="json").json()
    assert first["profileId"] != second["profileId"]
    assert set(Identifier.objects.values_list("value", flat=True)) == {"+442079460958;ext=12", "+442079460958"}
    found = api.get("/api/v1/profiles", {"identifierType": "PHONE", "identifierValue": "+44 20 7946 0958 x12"})
    assert found.json()["id"] == first["profileId"]
