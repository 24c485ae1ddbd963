"""docs/api.md documents exactly the endpoints the served OpenAPI document describes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
HEADING = re.compile(r"^### `(GET|POST|PUT|PATCH|DELETE) (/\S+)`", re.M)
METHODS = {"get", "post", "put", "patch", "delete"}

pytestmark = pytest.mark.django_db


def test_every_endpoint_of_the_served_schema_is_in_docs_api_md_and_nothing_else(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    served = {(method.upper(), path) for path, ops in schema["paths"].items() for method in ops if method in METHODS}
    documented = set(HEADING.findall(DOC.read_text()))
    missing = sorted(served - documented)
    stale = sorted(documented - served)
    assert not missing, (
        "docs/api.md lacks these endpoints of /api/schema/ (add a '### `METHOD /path`' section each, "
        "e.g. regenerate with scripts/api_reference.py): " + ", ".join(f"{m} {p}" for m, p in missing)
    )
    assert not stale, "docs/api.md documents endpoints /api/schema/ does not serve: " + ", ".join(
        f"{m} {p}" for m, p in stale
    )
