"""Write docs/api.md from the served OpenAPI document: every endpoint with its scope, fields,
status codes and examples. Run after adding an endpoint, then edit the prose it keeps:
    DATABASE_URL=sqlite:///var/ref.sqlite3 .venv/bin/python scripts/api_reference.py > docs/api.md
tests/docs/test_api_reference.py fails while an endpoint of /api/schema/ is missing here."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cdp_project.settings")

import django  # noqa: E402

django.setup()
from drf_spectacular.generators import SchemaGenerator  # noqa: E402

METHODS = ("get", "post", "put", "patch", "delete")
STATUS = {
    "200": "OK (for ingest: a replay, `\"status\": \"duplicate\"`)",
    "201": "created / accepted",
    "204": "done, no body",
    "207": "one result per item, in order",
}


def _ref(schema: dict, spec: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _fields(schema: dict, spec: dict) -> list[str]:
    schema = _ref(schema, spec)
    required = set(schema.get("required", []))
    lines = []
    for name, prop in schema.get("properties", {}).items():
        prop = _ref(prop, spec) if "$ref" in prop else prop
        kind = prop.get("type") or ("object" if "properties" in prop else "any")
        if "enum" in prop:
            kind = "one of " + ", ".join(f"`{v}`" for v in prop["enum"] if v is not None)
        text = (prop.get("description") or "").replace("\n", " ")
        lines.append(f"| `{name}` | {kind} | {'yes' if name in required else 'no'} | {text} |")
    return lines


def main() -> None:
    spec = SchemaGenerator().get_schema(request=None, public=True)
    spec = json.loads(json.dumps(spec, default=str))
    out = [Path(__file__).with_name("api_reference_intro.md").read_text().rstrip(), ""]
    for path, operations in spec["paths"].items():
        for method in METHODS:
            op = operations.get(method)
            if op is None:
                continue
            out += [f"### `{method.upper()} {path}`", ""]
            if op.get("summary"):
                out += [op["summary"], ""]
            if op.get("description"):
                out += [op["description"].strip(), ""]
            params = op.get("parameters", [])
            if params:
                out += ["| parameter | in | required | meaning |", "|---|---|---|---|"]
                out += [
                    f"| `{p['name']}` | {p['in']} | {'yes' if p.get('required') else 'no'} | "
                    f"{(p.get('description') or '').replace(chr(10), ' ')} |"
                    for p in params
                ]
                out.append("")
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if body:
                rows = _fields(body, spec)
                if rows:
                    out += ["Request fields:", "", "| field | type | required | meaning |", "|---|---|---|---|"]
                    out += [*rows, ""]
            out += ["| status | meaning |", "|---|---|"]
            for status, response in op.get("responses", {}).items():
                text = (response.get("description") or STATUS.get(status, "")).replace(chr(10), " ")
                out.append(f"| {status} | {text} |")
            out.append("")
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
