"""Row locks of the runtime app (DESIGN.md §8).

The global order: profile rows (`profiles.locks`), then participant rows by id, then
their variable values. A campaign edit takes its campaign row first (`campaign_update`
writes it before touching a definition); a variable write holds that row `FOR SHARE`,
so the two wait for each other instead of one writing a value of a definition the
other is removing."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.db import connection

from .models import Campaign, Participant


def participant_lock_for_variables(*, tenant_id: int, participant_id: uuid.UUID) -> int | None:
    """`SELECT … FOR UPDATE` on the participant and `FOR SHARE` on its campaign, in one
    statement: writes of one participant's values happen one at a time, and no campaign
    edit runs until they commit. Returns the campaign's `variables_version` as it is
    under the lock, or None when the participant is gone (combined in a merge)."""
    p, c = Participant._meta, Campaign._meta
    quote = connection.ops.quote_name
    column = {name: quote(p.get_field(name).column) for name in ("id", "tenant", "campaign")}
    sql = (
        f"SELECT c.{quote(c.get_field('variables_version').column)} "  # noqa: S608 (names from the models)
        f"FROM {quote(p.db_table)} p JOIN {quote(c.db_table)} c ON c.{quote(c.pk.column)} = p.{column['campaign']} "
        f"WHERE p.{column['id']} = %s AND p.{column['tenant']} = %s"
    )
    if connection.features.has_select_for_update_of:
        sql += " FOR UPDATE OF p FOR SHARE OF c"
    with connection.cursor() as cursor:
        cursor.execute(sql, [p.pk.get_db_prep_value(participant_id, connection), tenant_id])
        row = cursor.fetchone()
    return None if row is None else row[0]


def participants_lock(*, tenant_id: int, profile_ids: Iterable[uuid.UUID]) -> list[Participant]:
    """`SELECT … FOR UPDATE ORDER BY id` on every participant of these profiles (a merge
    holds the profile rows already): a variable write to any of them waits, or is waited for."""
    ids = sorted(set(profile_ids))
    if not ids:
        return []
    return list(Participant.objects.filter(tenant_id=tenant_id, profile_id__in=ids).order_by("pk").select_for_update())
