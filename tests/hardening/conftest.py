"""A tenant with contracts that hold every kind of field the hardening tests attack:
a datetime property and a datetime attribute (filterable), a source, and clients."""

from __future__ import annotations

import copy
import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import make_client
from contracts.plans import contracts_plan_import
from ingest.services import source_create
from ingest.tests.conftest import EVENT, PLAN

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def plan():
    plan = copy.deepcopy(PLAN)
    plan["eventTypes"].append(
        {
            "name": "signed_up",
            "description": "A customer signed up.",
            "status": "active",
            "allowAdditionalProperties": False,
            "properties": [
                {"name": "at", "type": "datetime", "required": True, "filterable": True, "derivable": False},
            ],
        }
    )
    plan["attributeDefinitions"].append({"name": "birthday", "type": "datetime", "filterable": True})
    return plan


@pytest.fixture
def shop(tenant, plan):
    contracts_plan_import(tenant_id=tenant.pk, plan=plan)
    return source_create(tenant=tenant, key="shop-backend", name="Shop backend")


@pytest.fixture
def api(tenant, key_factory, shop):
    """One client with the ingest and admin scopes."""
    return make_client(key_factory(tenant, ["ingest", "admin"]).plaintext)


@pytest.fixture
def event():
    return copy.deepcopy(EVENT)


def profile_update(attributes: dict, *, identity: dict | None = None, **changes) -> dict:
    """A valid profile update of the `shop-backend` source (for cust-42 unless told)."""
    body = {
        "source": "shop-backend",
        "externalEventId": "pu-1",
        "occurredAt": "2026-11-20T10:15:00Z",
        "identity": identity or {"EXTERNAL": "cust-42"},
        "attributes": attributes,
    }
    body.update(changes)
    return body


def numbered(n: int, **changes) -> dict:
    body = copy.deepcopy(EVENT)
    body["externalEventId"] = f"evt-{n}"
    body["identity"] = {"EXTERNAL": f"cust-{n}"}
    body.update(changes)
    return body


def _database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@dataclass
class Server:
    host: str
    port: int
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@pytest.fixture(scope="session")
def gunicorn(django_db_setup, django_db_blocker):
    """A real gunicorn (2 workers) on a free 127.0.0.1 port, serving the test database.
    PostgreSQL only: the test database must be one another process can open."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("a live server needs a database another process can open")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DATABASE_CONN_MAX_AGE": "0",
        "DJANGO_SETTINGS_MODULE": "cdp_project.settings",
        "DJANGO_DEBUG": "0",
    }
    # The server logs every request: to a file, since an undrained pipe fills and blocks its workers.
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "cdp_project.wsgi", "--workers", "2", "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    server = Server("127.0.0.1", port, process)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{server.url}/healthz", timeout=2):
                break
        except OSError:
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError(log.read().decode()[-2000:]) from None
            time.sleep(0.3)
    else:
        process.kill()
        raise RuntimeError("gunicorn did not start")
    yield server
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()


@pytest.fixture
def api_key(transactional_db, tenant, key_factory, shop) -> str:
    """The plaintext of an ingest+admin+runtime key, committed, so a live server sees it."""
    return key_factory(tenant, ["ingest", "admin", "runtime"]).plaintext
