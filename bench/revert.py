"""Merge-revert benchmark (issue 15): how long `POST /merges/{id}/revert` holds its locks for
a wrong merge of two profiles with many records, against the merge itself as the baseline.

Two customers each get `--events` events through `events_ingest` (batches of 500) — a
shopper (EXTERNAL + EMAIL) and a shared kiosk device (DEVICE_KEY) — plus a profile update
each; one event naming the email and the device merges the kiosk into the shopper (timed:
the baseline, which moves the kiosk's records with one statement per table). Then the
revert: a dry run (everything, rolled back) and the real one, each timed, and checked to
give each profile its own events back. A revert reads every record of the survivor, routes
it by its stored identity in Python and moves the restored profile's share back, so it
costs more than the merge; the ratio says how much.

Not a test: it prints figures and ends with a line `BENCH {json}`; `--smoke` runs a tiny
size in seconds against the (throwaway) database of `DATABASE_URL`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cdp_project.settings")
os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from contracts.plans import contracts_plan_import  # noqa: E402
from ingest.models import Event  # noqa: E402
from ingest.services import events_ingest, profile_updates_ingest, source_create  # noqa: E402
from privacy.reverts import merge_revert  # noqa: E402
from profiles.models import MergeLedgerEntry  # noqa: E402
from tenants.services import tenant_create  # noqa: E402

PLAN = {
    "eventTypes": [{"name": "order", "properties": [{"name": "total", "type": "number", "required": True}]}],
    "attributeDefinitions": [{"name": "tier", "type": "string"}],
}
SHOPPER = {"EXTERNAL": "cust-shopper", "EMAIL": "shopper@example.com"}
KIOSK = {"DEVICE_KEY": "kiosk-7"}


def events(tag: str, identity: dict, count: int) -> list[dict]:
    now = timezone.now().replace(microsecond=0).isoformat()
    return [
        {
            "source": "shop",
            "externalEventId": f"{tag}-{n}",
            "eventType": "order",
            "occurredAt": now,
            "identity": identity,
            "properties": {"total": 1.5},
        }
        for n in range(count)
    ]


def ingest(tenant, items: list[dict]) -> None:
    for start in range(0, len(items), 500):
        results = events_ingest(tenant=tenant, events=items[start : start + 500])
        assert all(r.status == "accepted" for r in results), [r for r in results if r.status != "accepted"][:1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a tiny size, in seconds")
    parser.add_argument("--events", type=int, default=20_000, help="events of each of the two profiles")
    args = parser.parse_args()
    size = 50 if args.smoke else args.events

    call_command("migrate", verbosity=0)
    tenant = tenant_create(slug=f"bench-revert-{int(time.time())}", name="Revert bench")
    contracts_plan_import(tenant_id=tenant.pk, plan=PLAN)
    source_create(tenant=tenant, key="shop")
    ingest(tenant, events("shopper", SHOPPER, size))
    ingest(tenant, events("kiosk", KIOSK, size))
    for who, identity in (("shopper", SHOPPER), ("kiosk", KIOSK)):
        update = {"source": "shop", "externalEventId": f"pu-{who}", "occurredAt": timezone.now().isoformat()}
        profile_updates_ingest(tenant=tenant, updates=[{**update, "identity": identity, "attributes": {"tier": who}}])

    started = time.perf_counter()
    ingest(tenant, events("both", {"EMAIL": "shopper@example.com", **KIOSK}, 1))
    merge_ms = (time.perf_counter() - started) * 1000
    entry = MergeLedgerEntry.objects.get(tenant=tenant)

    started = time.perf_counter()
    preview = merge_revert(tenant=tenant, merge_id=entry.pk, dry_run=True)
    dry_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    outcome = merge_revert(tenant=tenant, merge_id=entry.pk)
    revert_ms = (time.perf_counter() - started) * 1000
    assert preview.counts == outcome.counts and outcome.counts["events"] == size, outcome.counts
    assert Event.objects.filter(tenant=tenant, profile_id=entry.merged_id).count() == size
    assert Event.objects.filter(tenant=tenant, profile_id=entry.survivor_id).count() == size + 1

    figures = {
        "events_per_profile": size,
        "records_routed": 2 * size + 3,
        "merge_ms": round(merge_ms, 1),
        "revert_dry_run_ms": round(dry_ms, 1),
        "revert_ms": round(revert_ms, 1),
        "revert_vs_merge_ratio": round(revert_ms / merge_ms, 2),
        "revert_records_per_s": round((2 * size + 3) / (revert_ms / 1000)),
    }
    print(f"merge of a profile with {size} events into one with {size}: {figures['merge_ms']} ms (baseline)")
    print(
        f"revert: dry run {figures['revert_dry_run_ms']} ms, revert {figures['revert_ms']} ms "
        f"(x{figures['revert_vs_merge_ratio']} the merge; {figures['revert_records_per_s']} records routed/s)"
    )
    print("BENCH " + json.dumps(figures))


if __name__ == "__main__":
    main()
