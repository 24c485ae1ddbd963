"""Quarantine benchmark (issue 16): what keeping refused items costs ingest, and how fast a
replay recovers them.

- refused batch: `events_ingest` of a batch whose every item violates its contract, with
  the quarantine (one bounded count and one multi-row insert per batch) against the same
  batches with the quarantine switched off (the baseline, measured in the same run, in
  alternating rounds so load on the machine hits both alike);
- replay: after the contract is fixed, `rejections_replay` of everything quarantined
  (each item through the normal pipeline again with its key), in items per second.

Every batch holds distinct payloads, so each round really inserts. Not a test: it prints
figures and ends with a line `BENCH {json}`; `--smoke` runs a tiny size in seconds against
the (throwaway) PostgreSQL or SQLite database of `DATABASE_URL`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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
from ingest import quarantine  # noqa: E402
from ingest.models import Event, QuarantinedItem  # noqa: E402
from ingest.services import events_ingest, source_create  # noqa: E402
from tenants.services import tenant_create  # noqa: E402

PROPERTIES = [
    {"name": "orderId", "type": "string", "required": True},
    {"name": "total", "type": "number", "required": True},
]


def plan(*, with_coupon: bool) -> dict:
    extra = [{"name": "coupon", "type": "string"}] if with_coupon else []
    return {"eventTypes": [{"name": "order_completed", "properties": [*PROPERTIES, *extra]}]}


def batch(round_: int, size: int, tag: str) -> list[dict]:
    now = timezone.now().replace(microsecond=0).isoformat()
    return [
        {
            "source": "shop",
            "externalEventId": f"{tag}-{round_}-{n}",
            "eventType": "order_completed",
            "occurredAt": now,
            "identity": {"EXTERNAL": f"cust-{tag}-{round_}-{n}"},
            "properties": {"orderId": str(n), "total": 10.5, "coupon": "X"},  # undeclared until the fix
        }
        for n in range(size)
    ]


def timed(tenant, events: list[dict], *, keep: bool) -> float:
    started = time.perf_counter()
    if keep:
        results = events_ingest(tenant=tenant, events=events)
    else:
        with quarantine._replay_in_progress():  # the switch a replay uses: nothing is kept
            results = events_ingest(tenant=tenant, events=events)
    elapsed = time.perf_counter() - started
    assert all(result.status == "rejected" for result in results)
    return elapsed * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a tiny size, in seconds")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    size, rounds = (50, 2) if args.smoke else (args.batch, args.rounds)

    call_command("migrate", verbosity=0)
    tenant = tenant_create(slug=f"bench-q-{int(time.time())}", name="Quarantine bench")
    contracts_plan_import(tenant_id=tenant.pk, plan=plan(with_coupon=False))
    source_create(tenant=tenant, key="shop")
    timed(tenant, batch(-1, size, "warm"), keep=False)  # caches, compiled contracts, connections

    kept_ms, baseline_ms = [], []
    for round_ in range(rounds):
        order = [(True, kept_ms), (False, baseline_ms)] if round_ % 2 == 0 else [(False, baseline_ms), (True, kept_ms)]
        for keep, figures in order:
            figures.append(timed(tenant, batch(round_, size, "k" if keep else "b"), keep=keep))
    quarantined = QuarantinedItem.objects.filter(tenant=tenant).count()
    assert quarantined == size * rounds, quarantined

    contracts_plan_import(tenant_id=tenant.pk, plan=plan(with_coupon=True))
    started = time.perf_counter()
    outcome = quarantine.rejections_replay(tenant=tenant, filter=quarantine.RejectionFilter(), dry_run=False)
    replay_s = time.perf_counter() - started
    assert outcome["summary"]["accepted"] == quarantined, outcome
    assert not QuarantinedItem.objects.filter(tenant=tenant).exists()
    assert Event.objects.filter(tenant=tenant).count() == quarantined

    figures = {
        "batch_size": size,
        "rounds": rounds,
        "refused_batch_ms": round(statistics.median(kept_ms), 2),
        "refused_batch_baseline_ms": round(statistics.median(baseline_ms), 2),
        "quarantine_overhead_ratio": round(statistics.median(kept_ms) / statistics.median(baseline_ms), 3),
        "replayed_items": quarantined,
        "replay_items_per_s": round(quarantined / replay_s, 1),
    }
    print(
        f"refused batch of {size}: {figures['refused_batch_ms']} ms with the quarantine, "
        f"{figures['refused_batch_baseline_ms']} ms without (x{figures['quarantine_overhead_ratio']}), "
        f"median of {rounds} rounds each"
    )
    print(f"replay: {quarantined} items in {replay_s:.2f} s ({figures['replay_items_per_s']} items/s)")
    print("BENCH " + json.dumps(figures))


if __name__ == "__main__":
    main()
