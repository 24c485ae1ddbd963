"""The OpenAPI document says which credential each runtime endpoint takes."""

from __future__ import annotations

import yaml


def test_runtime_endpoints_declare_the_runtime_jwt_and_minting_the_api_key(client):
    spec = yaml.safe_load(client.get("/api/schema/").content)
    paths = spec["paths"]
    assert paths["/api/v1/runtime/context"]["get"]["security"] == [{"RuntimeJWT": []}]
    assert paths["/api/v1/runtime/variables"]["get"]["security"] == [{"RuntimeJWT": []}]
    assert paths["/api/v1/runtime/variables"]["patch"]["security"] == [{"RuntimeJWT": []}]
    assert paths["/api/v1/runtime/sessions"]["post"]["security"] == [{"ApiKey": []}]
    assert {"ApiKey": []} in paths["/api/v1/campaigns/{key}"]["patch"]["security"]
