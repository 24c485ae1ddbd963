"""The page ops open first (the admin's home): what arrived in the last 24 hours and
7 days per source and event type, what was refused and why, merges and new profiles per
day, identity conflicts waiting for review and running jobs. Charts are small SVGs drawn
here, on the server: no script, no CDN."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from identity.selectors import identity_conflicts_open, profile_labels
from profiles.selectors import merges_per_day, profiles_created_per_day

from .models import Event, ProfileUpdate, Violation

DAYS = 7
PROFILE_UPDATES = "(profile update)"


@dataclass
class StreamRow:
    source: str
    event_type: str
    accepted_24h: int = 0
    accepted_7d: int = 0
    rejected_24h: int = 0
    rejected_7d: int = 0
    per_day: list[int] = field(default_factory=lambda: [0] * DAYS)
    chart: SafeString | str = ""


def bar_chart(values: list[int], days: list[dt.date], *, unit: str, color: str = "#417690") -> SafeString:
    """Seven thin bars, oldest left, each with a tooltip; the scale is the row's own maximum."""
    width, height, gap = 12, 28, 3
    top = max(values) or 1
    bars = format_html_join(
        "",
        '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {} {}</title></rect>',
        (
            (
                index * (width + gap),
                height - max(1, round(height * value / top)) if value else height - 1,
                width,
                max(1, round(height * value / top)) if value else 1,
                color if value else "#ccc",
                day.strftime("%a %d %b"),
                value,
                unit,
            )
            for index, (value, day) in enumerate(zip(values, days, strict=True))
        ),
    )
    total_width = DAYS * (width + gap) - gap
    return format_html(
        '<svg class="spark" role="img" width="{}" height="{}" viewBox="0 0 {} {}" '
        'aria-label="{} per day, last {} days">{}</svg>',
        total_width,
        height,
        total_width,
        height,
        unit,
        DAYS,
        bars,
    )


def _scoped(queryset: Any, tenant_id: int | None) -> Any:
    return queryset if tenant_id is None else queryset.filter(tenant_id=tenant_id)


def overview_build(*, tenant_id: int | None, now: dt.datetime | None = None) -> dict[str, Any]:
    """Everything the overview shows, for one tenant (or every tenant for None)."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    days = [today - dt.timedelta(days=DAYS - 1 - index) for index in range(DAYS)]
    since_7d = timezone.make_aware(dt.datetime.combine(days[0], dt.time.min))
    since_24h = now - dt.timedelta(hours=24)
    rows, violations = _streams(tenant_id=tenant_id, days=days, since_7d=since_7d, since_24h=since_24h)

    top_codes = list(
        violations.values("code").annotate(refused=Sum("count"), streams=Count("pk")).order_by("-refused", "code")[:5]
    )
    merges = merges_per_day(tenant_id=tenant_id, since=since_7d)
    new_profiles = profiles_created_per_day(tenant_id=tenant_id, since=since_7d)
    merge_values = [merges.get(day, 0) for day in days]
    profile_values = [new_profiles.get(day, 0) for day in days]
    return {
        "streams": sorted(rows.values(), key=lambda r: (-r.accepted_7d - r.rejected_7d, r.source, r.event_type)),
        "days": days,
        "top_codes": top_codes,
        "merges": {
            "values": merge_values,
            "total": sum(merge_values),
            "chart": bar_chart(merge_values, days, unit="merges"),
        },
        "new_profiles": {
            "values": profile_values,
            "total": sum(profile_values),
            "chart": bar_chart(profile_values, days, unit="new profiles", color="#5b8c3a"),
        },
        "conflicts": _conflicts(tenant_id),
        "jobs": _running_jobs(tenant_id),
    }


def _streams(
    *, tenant_id: int | None, days: list[dt.date], since_7d: dt.datetime, since_24h: dt.datetime
) -> tuple[dict[tuple[str, str], StreamRow], Any]:
    """One row per (source, event type) with what was accepted and refused over the last 7
    days and 24 hours, and the refusals of the window (a queryset, for their top codes)."""
    rows: dict[tuple[str, str], StreamRow] = {}

    def row(source: str, event_type: str) -> StreamRow:
        return rows.setdefault((source, event_type), StreamRow(source, event_type))

    for model, type_of in ((Event, "event_type"), (ProfileUpdate, None)):
        recent = _scoped(model.objects.filter(received_at__gte=since_7d), tenant_id)
        keys = ["source__key"] + ([type_of] if type_of else [])
        for item in recent.annotate(day=TruncDate("received_at")).values(*keys, "day").annotate(n=Count("pk")):
            stream = row(item["source__key"], item[type_of] if type_of else PROFILE_UPDATES)
            stream.accepted_7d += item["n"]
            if item["day"] in days:
                stream.per_day[days.index(item["day"])] += item["n"]
        for item in recent.filter(received_at__gte=since_24h).values(*keys).annotate(n=Count("pk")):
            row(item["source__key"], item[type_of] if type_of else PROFILE_UPDATES).accepted_24h += item["n"]

    violations = _scoped(Violation.objects.filter(last_seen_at__gte=since_7d), tenant_id)
    for item in violations.values("source_key", "event_type").annotate(
        d7=Sum("count"), d24=Sum("count", filter=Q(last_seen_at__gte=since_24h))
    ):
        stream = row(item["source_key"], item["event_type"])
        stream.rejected_7d += item["d7"] or 0
        stream.rejected_24h += item["d24"] or 0
    for stream in rows.values():
        stream.chart = bar_chart(stream.per_day, days, unit="accepted")
    return rows, violations


def _conflicts(tenant_id: int | None) -> dict[str, Any]:
    """How many identity conflicts are open, and the latest with their profiles' labels."""
    open_conflicts, latest_conflicts = identity_conflicts_open(tenant_id=tenant_id)
    labels = profile_labels(
        profile_ids=[c.owner_profile_id for c in latest_conflicts] + [c.primary_profile_id for c in latest_conflicts]
    )
    return {
        "open": open_conflicts,
        "latest": [
            {
                "conflict": conflict,
                "owner": labels.get(conflict.owner_profile_id, "a profile without identifiers"),
                "primary": labels.get(conflict.primary_profile_id, "a profile without identifiers"),
            }
            for conflict in latest_conflicts
        ],
    }


def _running_jobs(tenant_id: int | None) -> dict[str, Any] | None:
    """Jobs running now, once the jobs app exists (issue 12); None until then, and the page
    says so. Reads only fields every job has: kind, status, progress."""
    if not apps.is_installed("jobs"):
        return None
    Job = apps.get_model("jobs", "Job")
    running = _scoped(Job.objects.exclude(status__in=["succeeded", "failed", "cancelled", "done"]), tenant_id)
    return {"count": running.count(), "latest": list(running.order_by("-pk")[:5])}
