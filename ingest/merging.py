"""Events and profile and channel updates follow their profile into merges (DESIGN.md §4)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from django.db import connection

from cdp_project.core.bulk import TENANT_RECHECKED, ids_in, values_cte
from profiles.merging import merge_final_survivors
from profiles.services import derived_values_delete

from .derived import derived_recompute
from .models import ChannelUpdate, Event, ProfileUpdate

_RECORDS = (("events", Event), ("profileUpdates", ProfileUpdate), ("channelUpdates", ChannelUpdate))


def records_move_on_merge(
    *, tenant_id: int, pairs: Sequence[tuple[uuid.UUID, uuid.UUID]]
) -> dict[uuid.UUID, dict[str, int]]:
    """Merge handler: one count query for the three record tables, then one UPDATE per
    table that holds rows of a merged profile; derived values of the merged profiles go
    and are recomputed exactly for the survivors that received events."""
    final = merge_final_survivors(pairs)
    own: dict[uuid.UUID, dict[str, int]] = {merged: {} for merged in final}
    selects, params = [], []
    for name, model in _RECORDS:
        condition, values = ids_in(model, "profile", final)
        selects.append(
            f"SELECT %s, profile_id, COUNT(*) FROM {model._meta.db_table}"  # noqa: S608 - names from metadata
            f" WHERE {condition} AND {TENANT_RECHECKED} GROUP BY profile_id"
        )
        params += [name, *values, tenant_id]
    field = Event._meta.get_field("profile")
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(selects), params)
        for name, profile_id, count in cursor.fetchall():
            own[field.to_python(profile_id)][name] = count
    # Counts are cumulative along a chain: what reached a profile moves on with it.
    moved: dict[uuid.UUID, dict[str, int]] = {}
    carried: dict[uuid.UUID, dict[str, int]] = {}
    for merged, survivor in pairs:
        total = {name: own[merged].get(name, 0) + carried.get(merged, {}).get(name, 0) for name, _ in _RECORDS}
        moved[merged] = total
        into = carried.setdefault(survivor, {})
        for name, count in total.items():
            into[name] = into.get(name, 0) + count
    for name, model in _RECORDS:
        holders = [merged for merged in final if own[merged].get(name)]
        if not holders:
            continue
        cte, cte_params = values_cte(
            "m", model, ["profile", "profile"], [(m, final[m]) for m in holders], aliases=["old_id", "new_id"]
        )
        table = model._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH {cte} UPDATE {table} SET profile_id = m.new_id FROM m"  # noqa: S608 - names from metadata
                f" WHERE {table}.profile_id = m.old_id AND {table}.{TENANT_RECHECKED}",
                [*cte_params, tenant_id],
            )
    # Derived values are recomputed exactly for the survivors from their (now larger) history.
    derived_values_delete(tenant_id=tenant_id, profile_ids=final)
    receivers = {final[merged] for merged in final if own[merged].get("events")}
    if receivers:
        derived_recompute(tenant_id=tenant_id, profile_ids=receivers)
    return moved
