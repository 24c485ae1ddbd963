"""A segment never answers from derived values that are still being computed: while a derived
attribute it reads (in its definition, or as an export column) is backfilling, its members
and its export answer 409 `derived_backfilling` naming it; once the job is done, they answer."""

from __future__ import annotations

import pytest

from jobs.worker import jobs_run_pending

pytestmark = pytest.mark.django_db

SMALLEST = {"name": "smallestOrder", "eventType": "order_completed", "property": "total", "aggregation": "min"}
SMALL_SPENDERS = {
    "key": "small-spenders",
    "name": "Small spenders",
    "definition": {
        "all": [{"attribute": "tier", "op": "exists"}, {"derived": "smallestOrder", "op": "lt", "value": 20}]
    },
}
GOLD = {"key": "gold", "name": "Gold", "definition": {"attribute": "tier", "op": "eq", "value": "gold"}}


@pytest.fixture
def backfilling(api, world):
    """A new derived attribute over events already stored (its backfill job not yet run), and
    a segment on it."""
    response = api.post("/api/v1/derived-attributes", SMALLEST, format="json")
    assert response.status_code == 201 and response.json()["status"] == "backfilling", response.content
    for segment in (SMALL_SPENDERS, GOLD):
        assert api.post("/api/v1/segments", segment, format="json").status_code == 201
    return world


def assert_backfilling_problem(response, pointers):
    assert response.status_code == 409, response.content
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "derived_backfilling"
    assert "smallestOrder" in body["detail"]
    assert [(e["pointer"], e["code"], e["detail"]) for e in body["errors"]] == [
        (pointer, "derived_backfilling", "smallestOrder") for pointer in pointers
    ]


def test_members_of_a_segment_on_a_backfilling_derived_attribute_are_a_409_until_it_is_ready(api, backfilling):
    assert_backfilling_problem(api.get("/api/v1/segments/small-spenders/members"), ["/definition/all/1/derived"])
    assert_backfilling_problem(
        api.get("/api/v1/segments/small-spenders/export", {"channel": "EMAIL"}), ["/definition/all/1/derived"]
    )

    assert jobs_run_pending() == 1
    assert api.get("/api/v1/derived-attributes/smallestOrder").json()["status"] == "ready"
    members = api.get("/api/v1/segments/small-spenders/members")
    assert members.status_code == 200
    assert [m["profileId"] for m in members.json()["results"]] == [backfilling.profiles["cid"]]


def test_an_export_column_of_a_backfilling_derived_attribute_is_a_409_until_it_is_ready(api, backfilling):
    params = {"channel": "EMAIL", "attributes": "tier,smallestOrder"}
    assert_backfilling_problem(api.get("/api/v1/segments/gold/export", params), ["/attributes/1"])
    # The segment's and the column's pointers together.
    both = api.get("/api/v1/segments/small-spenders/export", {"channel": "EMAIL", "attributes": "smallestOrder"})
    assert_backfilling_problem(both, ["/definition/all/1/derived", "/attributes/0"])

    jobs_run_pending()
    response = api.get("/api/v1/segments/gold/export", {**params, "format": "ndjson"})
    assert response.status_code == 200
    rows = sorted(b"".join(response.streaming_content).decode().splitlines())
    assert '"smallestOrder":30.0' in next(r for r in rows if backfilling.profiles["ann"] in r)


def test_segments_that_do_not_read_the_backfilling_attribute_answer_as_usual(api, backfilling):
    assert api.get("/api/v1/segments/gold/members").status_code == 200
    response = api.get("/api/v1/segments/gold/export", {"channel": "EMAIL", "attributes": "tier,ordersTotal"})
    assert response.status_code == 200
    assert len(b"".join(response.streaming_content).decode().splitlines()) == 1 + 2  # header, ann and ivy
