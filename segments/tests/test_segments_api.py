"""The segments API: saving definitions (checked at save time), reading them, members."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

GOLD = {"key": "gold", "name": "Gold customers", "definition": {"attribute": "tier", "op": "eq", "value": "gold"}}


def pointers(response):
    return {(e["pointer"], e["code"]) for e in response.json()["errors"]}


def test_a_segment_is_saved_read_listed_and_replaced(api):
    created = api.post("/api/v1/segments", GOLD, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["definition"] == GOLD["definition"]
    assert api.get("/api/v1/segments/gold").json()["name"] == "Gold customers"
    assert [s["key"] for s in api.get("/api/v1/segments").json()["results"]] == ["gold"]
    replaced = api.put(
        "/api/v1/segments/gold",
        {"name": "Gold or silver", "definition": {"attribute": "tier", "op": "in", "value": ["gold", "silver"]}},
        format="json",
    )
    assert replaced.status_code == 200, replaced.content
    assert api.get("/api/v1/segments/gold").json()["definition"]["op"] == "in"


def test_a_taken_key_is_a_conflict_and_a_renaming_put_is_refused(api):
    api.post("/api/v1/segments", GOLD, format="json")
    assert api.post("/api/v1/segments", GOLD, format="json").status_code == 409
    response = api.put("/api/v1/segments/gold", {**GOLD, "key": "other"}, format="json")
    assert response.status_code == 422 and ("/key", "immutable") in pointers(response)


def test_another_tenants_segment_answers_404_like_a_missing_one(api, other_admin_api):
    api.post("/api/v1/segments", GOLD, format="json")
    for path in ("", "/members", "/export?channel=EMAIL"):
        assert other_admin_api.get(f"/api/v1/segments/gold{path}").status_code == 404
        assert api.get(f"/api/v1/segments/missing{path}").status_code == 404
    assert other_admin_api.put("/api/v1/segments/gold", GOLD, format="json").status_code == 404


def test_segments_need_the_admin_scope(tenant, key_factory, contracts):
    from conftest import make_client

    ingest_only = make_client(key_factory(tenant, ["ingest"]).plaintext)
    assert ingest_only.get("/api/v1/segments").status_code == 403
    assert make_client(None).get("/api/v1/segments").status_code == 401


def test_every_problem_of_a_definition_is_reported_at_once_with_pointers(api):
    definition = {
        "all": [
            {"attribute": "firstName", "op": "eq", "value": "Ann"},  # not filterable
            {"attribute": "nope", "op": "exists"},  # unknown
            {"attribute": "vip", "op": "gt", "value": True},  # no ordering of booleans
            {"attribute": "tier", "op": "lt", "value": "gold"},  # no ordering of enums
            {"attribute": "tier", "op": "eq", "value": "bronze"},  # not one of the values
            {"attribute": "tier", "op": "in", "value": "gold"},  # in needs a list
            {"attribute": "age", "op": "eq", "value": "34"},  # a string for an integer
            {"attribute": "age", "op": "between", "value": 1},  # unknown operator
            {"derived": "nope", "op": "exists"},
            {
                "event": "order_completed",
                "within": "P1M",
                "where": [{"property": "orderId", "op": "eq", "value": "1"}, {"property": "ghost", "op": "exists"}],
                "count": {"op": "gte", "value": -1},
            },
            {"event": "nope"},
            {"channel": "FAX", "ready": "yes"},
            {"attribute": "country", "op": "exists", "value": "DE"},
            {"attribute": "tier", "op": "eq", "value": "gold", "extra": 1},
            {"attribute": "tier", "channel": "EMAIL"},
            {"all": []},
            {"attribute": "birthday", "op": "gt", "value": "2020-01-01"},  # no offset
        ]
    }
    response = api.post("/api/v1/segments", {"key": "bad", "name": "Bad", "definition": definition}, format="json")
    assert response.status_code == 422
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert pointers(response) == {
        ("/definition/all/0/attribute", "not_filterable"),
        ("/definition/all/1/attribute", "unknown_attribute"),
        ("/definition/all/2/op", "operator_not_allowed"),
        ("/definition/all/3/op", "operator_not_allowed"),
        ("/definition/all/4/value", "not_allowed"),
        ("/definition/all/5/value", "type"),
        ("/definition/all/6/value", "type"),
        ("/definition/all/7/op", "unknown_operator"),
        ("/definition/all/8/derived", "unknown_derived"),
        ("/definition/all/9/within", "invalid_duration"),
        ("/definition/all/9/where/0/property", "not_filterable"),
        ("/definition/all/9/where/1/property", "unknown_property"),
        ("/definition/all/9/count/value", "type"),
        ("/definition/all/10/event", "unknown_event_type"),
        ("/definition/all/11/channel", "unknown_channel"),
        ("/definition/all/11/ready", "type"),
        ("/definition/all/12/value", "unexpected_value"),
        ("/definition/all/13/extra", "unknown_field"),
        ("/definition/all/14", "invalid_condition"),
        ("/definition/all/15/all", "type"),
        ("/definition/all/16/value", "type"),
    }
    assert api.get("/api/v1/segments/bad").status_code == 404


def test_an_unknown_key_is_pointed_at_with_rfc_6901_escapes(api):
    condition = {"attribute": "tier", "op": "eq", "value": "x", "a/b~c": 1}
    body = {"key": "esc", "name": "Esc", "definition": {"all": [condition]}, "x/y~z": 1}
    response = api.post("/api/v1/segments", body, format="json")
    assert response.status_code == 422
    assert {("/x~1y~0z", "unknown_field"), ("/definition/all/0/a~1b~0c", "unknown_field")} <= pointers(response)


def test_nesting_is_bounded(api):
    definition = {"attribute": "tier", "op": "exists"}
    for _ in range(9):
        definition = {"not": definition}
    response = api.post("/api/v1/segments", {"key": "deep", "name": "Deep", "definition": definition}, format="json")
    assert response.status_code == 422
    assert any(code == "too_deep" for _, code in pointers(response))


def test_key_name_and_definition_are_required(api):
    response = api.post("/api/v1/segments", {"key": "Not A Key", "extra": 1}, format="json")
    assert response.status_code == 422
    assert {p for p, _ in pointers(response)} == {"/key", "/name", "/definition", "/extra"}


def test_members_are_the_matching_live_profiles_cursor_paginated(api, world):
    api.post("/api/v1/segments", GOLD, format="json")
    first = api.get("/api/v1/segments/gold/members", {"limit": 3})
    assert first.status_code == 200, first.content
    page = first.json()
    assert len(page["results"]) == 3 and page["next"]
    second = api.get(page["next"]).json()
    assert second["next"] is None
    ids = [m["profileId"] for m in page["results"] + second["results"]]
    assert sorted(ids) == sorted(world.profiles[label] for label in ("ann", "eve", "fay", "ivy"))
    assert ids == sorted(ids)
