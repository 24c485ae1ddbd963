"""The contracts API as backends and engineers use it, through real requests."""

from __future__ import annotations

import pytest

from conftest import make_client

pytestmark = pytest.mark.django_db

ORDER = {
    "name": "order_completed",
    "description": "Paid orders",
    "properties": [
        {"name": "orderId", "type": "string", "required": True},
        {"name": "total", "type": "number", "required": True, "filterable": True, "derivable": True},
        {"name": "currency", "type": "enum", "values": ["EUR", "USD"], "required": True, "filterable": True},
    ],
}


def _problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code
    return body


def _pointers(body: dict) -> list[tuple[str, str]]:
    return [(e["pointer"], e["code"]) for e in body["errors"]]


@pytest.fixture
def order(admin_api):
    response = admin_api.post("/api/v1/event-types", ORDER, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_an_event_type_is_created_in_the_api_shape(order):
    assert order == {
        "name": "order_completed",
        "description": "Paid orders",
        "status": "active",
        "version": 1,
        "allowAdditionalProperties": False,
        "properties": [
            {"name": "orderId", "type": "string", "required": True, "filterable": False, "derivable": False},
            {"name": "total", "type": "number", "required": True, "filterable": True, "derivable": True},
            {
                "name": "currency",
                "type": "enum",
                "values": ["EUR", "USD"],
                "required": True,
                "filterable": True,
                "derivable": False,
            },
        ],
    }


def test_get_list_and_detail(admin_api, order):
    assert admin_api.get("/api/v1/event-types/order_completed").json() == order
    listed = admin_api.get("/api/v1/event-types").json()
    assert listed == {"results": [order], "next": None}


def test_the_list_is_cursor_paginated(admin_api):
    for name in ["c_type", "a_type", "b_type"]:
        assert admin_api.post("/api/v1/event-types", {"name": name}, format="json").status_code == 201
    first = admin_api.get("/api/v1/event-types?limit=2").json()
    assert [t["name"] for t in first["results"]] == ["a_type", "b_type"]
    second = admin_api.get(first["next"]).json()
    assert [t["name"] for t in second["results"]] == ["c_type"]
    assert second["next"] is None


def test_a_duplicate_name_is_409(admin_api, order):
    _problem(admin_api.post("/api/v1/event-types", ORDER, format="json"), 409, "already_exists")


def test_bad_definitions_are_422_with_pointers(admin_api):
    body = {
        "name": "bad name",
        "status": "archived",
        "properties": [
            {"name": "ok", "type": "string"},
            {"name": "x", "type": "decimal"},
            {"name": "tier", "type": "enum"},
            {"name": "n", "type": "integer", "maxLength": 3, "requried": True},
            {"name": "ok", "type": "string"},
        ],
    }
    problem = _problem(admin_api.post("/api/v1/event-types", body, format="json"), 422, "validation_error")
    assert sorted(_pointers(problem)) == [
        ("/name", "invalid"),
        ("/properties/1/type", "invalid_choice"),
        ("/properties/2/values", "required"),
        ("/properties/3/maxLength", "not_allowed"),
        ("/properties/3/requried", "unknown_field"),
        ("/properties/4/name", "duplicate"),
        ("/status", "invalid_choice"),
    ]
    assert admin_api.get("/api/v1/event-types").json()["results"] == []


def test_a_body_that_is_not_an_object_is_400(admin_api):
    _problem(admin_api.post("/api/v1/event-types", [ORDER], format="json"), 400, "not_an_object")


def test_put_replaces_and_bumps_the_version_only_when_properties_change(admin_api, order):
    url = "/api/v1/event-types/order_completed"
    same = admin_api.put(url, {**order, "description": "Orders, paid"}, format="json").json()
    assert (same["version"], same["description"]) == (1, "Orders, paid")

    changed = {**order, "properties": [*order["properties"], {"name": "items", "type": "array"}]}
    replaced = admin_api.put(url, changed, format="json").json()
    assert replaced["version"] == 2
    assert [p["name"] for p in replaced["properties"]] == ["orderId", "total", "currency", "items"]
    # a whole replacement: what is left out goes back to its default
    assert admin_api.put(url, {"properties": order["properties"]}, format="json").json()["description"] == ""


def test_patch_changes_only_what_it_names_and_version_is_read_only(admin_api, order):
    url = "/api/v1/event-types/order_completed"
    patched = admin_api.patch(url, {"status": "deprecated", "version": 99}, format="json").json()
    assert (patched["status"], patched["version"], patched["properties"]) == ("deprecated", 1, order["properties"])
    patched = admin_api.patch(url, {"allowAdditionalProperties": True}, format="json").json()
    assert patched["version"] == 2


def test_an_event_type_cannot_be_renamed(admin_api, order):
    response = admin_api.patch("/api/v1/event-types/order_completed", {"name": "order_done"}, format="json")
    assert _pointers(_problem(response, 422, "validation_error")) == [("/name", "immutable")]


def test_attribute_definitions(admin_api):
    body = {"name": "tier", "type": "enum", "values": ["silver", "gold"], "filterable": True}
    created = admin_api.post("/api/v1/attribute-definitions", body, format="json")
    assert created.status_code == 201
    assert created.json() == body
    _problem(admin_api.post("/api/v1/attribute-definitions", body, format="json"), 409, "already_exists")

    patched = admin_api.patch(
        "/api/v1/attribute-definitions/tier", {"values": ["silver", "gold", "platinum"]}, format="json"
    )
    assert patched.json()["values"] == ["silver", "gold", "platinum"]
    retyped = admin_api.patch("/api/v1/attribute-definitions/tier", {"type": "string", "maxLength": 20}, format="json")
    assert retyped.json() == {"name": "tier", "type": "string", "maxLength": 20, "filterable": True}
    assert admin_api.get("/api/v1/attribute-definitions").json()["results"] == [retyped.json()]

    bad = admin_api.post(
        "/api/v1/attribute-definitions",
        {"name": "age", "type": "integer", "required": True, "minimum": 10, "maximum": 1},
        format="json",
    )
    assert sorted(_pointers(_problem(bad, 422, "validation_error"))) == [
        ("/maximum", "invalid"),
        ("/required", "unknown_field"),
    ]


def test_derived_attributes(admin_api, order):
    created = admin_api.post(
        "/api/v1/derived-attributes",
        {"name": "ordersTotal", "eventType": "order_completed", "property": "total", "aggregation": "sum"},
        format="json",
    )
    assert created.status_code == 201
    body = dict(created.json())
    job = body.pop("job")
    assert body == {
        "name": "ordersTotal",
        "eventType": "order_completed",
        "property": "total",
        "aggregation": "sum",
        "status": "backfilling",
    }
    assert job["kind"] == "derived.backfill" and job["status"] == "queued"
    assert admin_api.get(f"/api/v1/jobs/{job['id']}").json()["status"] == "queued"
    count = admin_api.post(
        "/api/v1/derived-attributes",
        {"name": "ordersCount", "eventType": "order_completed", "aggregation": "count"},
        format="json",
    )
    assert count.json()["property"] is None
    assert admin_api.get("/api/v1/derived-attributes/ordersTotal").json() == created.json()
    names = [d["name"] for d in admin_api.get("/api/v1/derived-attributes").json()["results"]]
    assert names == ["ordersCount", "ordersTotal"]
    assert admin_api.get("/api/v1/derived-attributes?eventType=page_viewed").json()["results"] == []


@pytest.mark.parametrize(
    "body, expected",
    [
        (
            {"property": "currency", "aggregation": "sum"},
            [("/property", "not_derivable"), ("/property", "not_numeric")],
        ),
        ({"property": "orderId", "aggregation": "last"}, [("/property", "not_derivable")]),
        ({"property": "nope", "aggregation": "min"}, [("/property", "unknown_property")]),
        ({"aggregation": "sum"}, [("/property", "required")]),
        ({"property": "total", "aggregation": "count"}, [("/property", "not_allowed")]),
        ({"property": "total", "aggregation": "avg"}, [("/aggregation", "invalid_choice")]),
        ({"eventType": "nope", "property": "total", "aggregation": "sum"}, [("/eventType", "unknown_event_type")]),
    ],
)
def test_bad_derived_attributes_are_422_pointing_at_the_culprit(admin_api, order, body, expected):
    body = {"name": "d", "eventType": "order_completed", **body}
    response = admin_api.post("/api/v1/derived-attributes", body, format="json")
    assert _pointers(_problem(response, 422, "validation_error")) == expected


def test_a_property_feeding_a_derived_attribute_is_kept(admin_api, order):
    admin_api.post(
        "/api/v1/derived-attributes",
        {"name": "ordersTotal", "eventType": "order_completed", "property": "total", "aggregation": "sum"},
        format="json",
    )
    without_total = [p for p in order["properties"] if p["name"] != "total"]
    response = admin_api.patch("/api/v1/event-types/order_completed", {"properties": without_total}, format="json")
    assert _pointers(_problem(response, 422, "validation_error")) == [("/properties", "in_use")]


def test_tenant_a_contracts_are_invisible_to_tenant_b(admin_api, other_admin_api, order):
    admin_api.post("/api/v1/attribute-definitions", {"name": "tier", "type": "string"}, format="json")
    admin_api.post(
        "/api/v1/derived-attributes",
        {"name": "ordersCount", "eventType": "order_completed", "aggregation": "count"},
        format="json",
    )
    for url in ["/api/v1/event-types", "/api/v1/attribute-definitions", "/api/v1/derived-attributes"]:
        assert other_admin_api.get(url).json() == {"results": [], "next": None}
    for url in [
        "/api/v1/event-types/order_completed",
        "/api/v1/attribute-definitions/tier",
        "/api/v1/derived-attributes/ordersCount",
    ]:
        _problem(other_admin_api.get(url), 404, "not_found")
    _problem(
        other_admin_api.patch("/api/v1/event-types/order_completed", {"status": "deprecated"}, format="json"),
        404,
        "not_found",
    )
    # B may use the same names for its own contracts, and cannot reach A's event type
    assert other_admin_api.post("/api/v1/event-types", ORDER, format="json").status_code == 201
    response = other_admin_api.post(
        "/api/v1/derived-attributes",
        {"name": "x", "eventType": "order_completed", "property": "total", "aggregation": "sum"},
        format="json",
    )
    assert response.status_code == 201
    assert admin_api.get("/api/v1/event-types/order_completed").json() == order


def test_every_contracts_endpoint_needs_the_admin_scope(tenant, key_factory):
    client = make_client(key_factory(tenant, ["ingest", "runtime"]).plaintext)
    for url in ["/api/v1/event-types", "/api/v1/attribute-definitions", "/api/v1/derived-attributes"]:
        _problem(client.get(url), 403, "permission_denied")
        _problem(client.post(url, {}, format="json"), 403, "permission_denied")
    _problem(make_client(None).get("/api/v1/event-types"), 401, "not_authenticated")


def test_the_schema_describes_the_contracts_endpoints(client):
    import yaml

    spec = yaml.safe_load(client.get("/api/schema/").content)
    paths = spec["paths"]
    assert set(paths["/api/v1/event-types/{name}"]) >= {"get", "put", "patch"}
    assert paths["/api/v1/derived-attributes"]["post"]["operationId"] == "derived_attributes_create"
    assert "/api/v1/attribute-definitions/{name}" in paths
