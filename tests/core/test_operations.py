"""Health probes, the OpenAPI schema and the interactive docs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from openapi_spec_validator import validate

ROOT = Path(__file__).resolve().parents[2]


def test_healthz_answers_while_the_process_lives(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_answers_200_when_the_database_answers(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


def test_readyz_answers_503_when_the_database_is_unreachable():
    # A real process whose database is a closed port: nothing is faked.
    script = (
        "import django; django.setup();"
        "from django.test import Client;"
        "r = Client().get('/readyz'); print(r.status_code, r.json()['status'], r['Retry-After'])"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "cdp_project.settings",
        "DATABASE_URL": "postgres://nobody@127.0.0.1:9/nowhere?connect_timeout=2",
    }
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "503 unavailable 5", out.stderr


def test_schema_is_valid_openapi_3_with_both_security_schemes(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    spec = yaml.safe_load(response.content)
    validate(spec)
    assert spec["openapi"].startswith("3.")
    schemes = spec["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": schemes["ApiKey"]["description"],
    }
    assert schemes["RuntimeJWT"]["scheme"] == "bearer"
    assert schemes["RuntimeJWT"]["bearerFormat"] == "JWT"
    assert "/api/v1/sources" in spec["paths"]
    assert {"ApiKey": []} in spec["paths"]["/api/v1/sources"]["get"]["security"]


def test_docs_page_loads_its_assets_locally(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    # No asset from a CDN (a bare "cdn" may occur by chance in the page's random CSRF token).
    assert not re.search(r"(src|href)=[\"'][^\"']*cdn", html, re.IGNORECASE)
    assert "//cdn" not in html.lower()
    assert "/static/drf_spectacular_sidecar/" in html


def test_production_settings_pass_check_deploy():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "cdp_project.settings.production",
        "DJANGO_SECRET_KEY": "x" * 20 + "a-real-looking-secret-key-with-entropy-9f8e7d6c5b4a",
        "DJANGO_ALLOWED_HOSTS": "cdp.example.com",
        "CDP_RUNTIME_JWT_SIGNING_KEY": "r" * 20 + "a-separate-runtime-jwt-signing-key-0a1b2c3d",
    }
    # The browser tests of the same process set it for Playwright's loop; a deployment never does.
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    out = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no issues" in out.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SECRET_KEY"}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "cdp_project.settings.production",
            "DJANGO_ALLOWED_HOSTS": "x",
            "CDP_RUNTIME_JWT_SIGNING_KEY": "r" * 20 + "a-separate-runtime-jwt-signing-key-0a1b2c3d",
        }
    )
    out = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode != 0
    assert "DJANGO_SECRET_KEY" in out.stderr
