"""The per-key rate limit is one budget for every process: requests answered by two different
processes draw on the same count."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from django.db import connection

from tenants.throttling import rate_budget_take

ROOT = Path(__file__).resolve().parents[2]

CLIENT = textwrap.dedent(
    """
    import os, sys, django
    django.setup()
    from django.test import Client
    client = Client(HTTP_AUTHORIZATION="Api-Key " + os.environ["KEY"])
    print(" ".join(str(client.get("/api/v1/sources").status_code) for _ in range(int(sys.argv[1]))))
    """
)


def database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    return f"postgres://{s['USER']}:{s['PASSWORD'] or ''}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


def in_another_process(key: str, requests: int) -> list[int]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "cdp_project.settings",
        "CDP_API_KEY_RATE_PER_MINUTE": "5",
        "DJANGO_LOG_LEVEL": "WARNING",
        "KEY": key,
    }
    out = subprocess.run(
        [sys.executable, "-c", CLIENT, str(requests)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return [int(code) for code in out.stdout.split()]


@pytest.mark.django_db(transaction=True)
def test_two_processes_share_one_budget_per_key(tenant, key_factory):
    if connection.vendor == "sqlite" and "memory" in str(connection.settings_dict["NAME"]):
        pytest.skip("an in-memory SQLite database is not shared with another process")
    key = key_factory(tenant, ["admin"]).plaintext
    # The budget is a fixed window of one wall-clock minute: both processes must fall in the
    # same one, so start at the beginning of a minute when too little of this one is left.
    seconds = time.time() % 60
    if seconds > 30:
        time.sleep(60.5 - seconds)
    assert in_another_process(key, 3) == [200, 200, 200]
    assert in_another_process(key, 3) == [200, 200, 429], "the second process saw the first one's requests"
    other = key_factory(tenant, ["admin"]).plaintext
    assert in_another_process(other, 1) == [200], "each key has its own budget"


@pytest.mark.django_db
def test_a_new_minute_starts_a_new_budget_and_clears_the_old_one():
    minute = 29_000_000 * 60.0
    assert rate_budget_take(key_prefix="k1", now=minute + 1)[0] == 1
    count, remaining = rate_budget_take(key_prefix="k1", now=minute + 50)
    assert (count, round(remaining)) == (2, 10)
    assert rate_budget_take(key_prefix="k1", now=minute + 61)[0] == 1
    from tenants.models import RateBudget

    assert list(RateBudget.objects.filter(key_prefix="k1").values_list("count", flat=True)) == [1]
