"""The OpenAPI document declares every cursor-paginated list as the object the API answers,
`{"results": [...], "next": url | null}`, never as a bare array (issue 11 item 7)."""

from __future__ import annotations

import pytest
import yaml

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def spec(django_db_blocker):
    from django.test import Client

    with django_db_blocker.unblock():
        return yaml.safe_load(Client().get("/api/schema/").content)


def _resolve(spec, schema):
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def _ok_schemas(spec):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            for status, response in operation.get("responses", {}).items():
                if not status.startswith("2"):
                    continue
                for media, content in response.get("content", {}).items():
                    if "json" in media and "schema" in content:
                        yield f"{method.upper()} {path} {status}", operation["operationId"], content["schema"]


def test_no_json_answer_is_declared_as_a_bare_array(spec):
    arrays = [where for where, _, schema in _ok_schemas(spec) if _resolve(spec, schema).get("type") == "array"]
    assert arrays == []


@pytest.mark.parametrize(
    "operation_id",
    [
        "sources_list",
        "segments_members",
        "profiles_events",
        "segments_list",
        "event_types_list",
        "attribute_definitions_list",
        "derived_attributes_list",
        "campaigns_list",
        "profiles_merges_list",
    ],
)
def test_a_paginated_list_declares_results_and_next(spec, operation_id):
    (schema,) = [s for _, op, s in _ok_schemas(spec) if op == operation_id]
    page = _resolve(spec, schema)
    assert page["type"] == "object"
    assert {"results", "next"} <= set(page["properties"])
    assert _resolve(spec, page["properties"]["results"])["type"] == "array"
    assert page["properties"]["next"].get("nullable") is True
