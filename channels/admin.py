"""The channels side of the ops console: endpoints found by address as a human types it,
filterable by channel, consent and reachability, each with its history (read-only);
and the profile page's sections that answer "why can't we email this customer?".
Every row here is written by channel updates and merges only, never edited by hand."""

from __future__ import annotations

import uuid

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from cdp_project.core.admin_base import ReadOnlyAdminMixin
from identity.admin import customer_link
from profiles.extensions import AdminSection
from profiles.selectors import profile_merged_ids
from tenants.console import when
from tenants.scoping import TenantScopedAdmin, TenantScopedTabularInline

from .models import Endpoint, EndpointHistory
from .selectors import (
    ChannelReport,
    admin_endpoints_search,
    profile_channel_report,
    profile_endpoint_history,
    profile_endpoints,
    readiness_judge,
)

REASON_TEXT = {
    "no_endpoint": "no endpoint on this channel was ever declared for this profile through /channel-updates "
    "(an identifier such as EMAIL or PHONE never makes a profile ready)",
    "no_consent": "consent was never given for the current owner",
    "consent_pending": "consent is pending (e.g. a double opt-in not confirmed yet)",
    "bounced": "the address bounced",
    "unreachable": "the address is unreachable",
    "not_mobile": "SMS needs a mobile number",
}


_when = when


def endpoint_link(endpoint: Endpoint, text: str | None = None) -> str:
    url = reverse("admin:channels_endpoint_change", args=[endpoint.pk])
    label = text if text is not None else f"{endpoint.channel}:{endpoint.address[:60]}"
    return format_html('<a href="{}">{}</a>', url, label)


def endpoint_explanation(endpoint: Endpoint | None, *, channel: str) -> str:
    """One sentence an ops person can read: why this endpoint is (not) ready."""
    readiness = readiness_judge(channel=channel, endpoint=endpoint)
    if endpoint is None:
        return f"Not ready: {REASON_TEXT['no_endpoint']}."
    if readiness.ready:
        return (
            f"Ready: consent granted at {_when(endpoint.consent_occurred_at)} by source "
            f"{endpoint.consent_source or '?'}"
            + (f" ({endpoint.consent_evidence})" if endpoint.consent_evidence else "")
            + f"; {endpoint.reachability}."
        )
    reason = readiness.reason or ""
    if reason == "no_consent" and endpoint.consent == "denied":
        text = (
            f"consent was denied at {_when(endpoint.consent_occurred_at)} by source {endpoint.consent_source or '?'}"
            + (f" ({endpoint.consent_evidence})" if endpoint.consent_evidence else "")
        )
    elif reason == "no_consent":
        text = REASON_TEXT["no_consent"]
        if endpoint.others_declared_at is not None:
            text += (
                f"; another profile declared this address at {_when(endpoint.others_declared_at)}, "
                "and consent never moves with an address to its new owner"
            )
    elif reason == "consent_pending":
        text = f"{REASON_TEXT['consent_pending']}, since {_when(endpoint.consent_occurred_at)}"
    elif reason in ("bounced", "unreachable"):
        text = (
            f"{REASON_TEXT[reason]} at {_when(endpoint.reachability_occurred_at)} "
            f"(source {endpoint.reachability_source or '?'}"
            + (f": {endpoint.reachability_reason}" if endpoint.reachability_reason else "")
            + ")"
        )
    elif reason == "not_mobile":
        text = f"{REASON_TEXT['not_mobile']}; {endpoint.address} is a {endpoint.number_type or 'UNKNOWN'} number"
    else:
        text = reason
    return f"Not ready ({reason}): {text}."


# --- sections of the admin profile page (registered in ChannelsConfig.ready) ---------------


def _readiness_row(report: ChannelReport) -> list[object]:
    endpoint = report.endpoint
    return [
        report.channel,
        "yes" if report.readiness.ready else "no",
        report.readiness.reason or "—",
        endpoint_explanation(endpoint, channel=report.channel),
        endpoint_link(endpoint) if endpoint is not None else "—",
        f"{report.others} more" if report.others else "—",
    ]


def readiness_admin_section(*, tenant_id: int, profile_id: uuid.UUID) -> AdminSection:
    reports = profile_channel_report(tenant_id=tenant_id, profile_id=profile_id)
    return AdminSection(
        title="Channel readiness (can we contact this customer, and why not?)",
        columns=["Channel", "Ready", "Reason", "Why", "Active endpoint", "Inactive endpoints"],
        rows=[_readiness_row(report) for report in reports],
        note="Judged on the profile's active endpoint per channel, the one declared most recently. "
        "Exports and the campaign runtime use the same answer.",
    )


def endpoints_admin_section(*, tenant_id: int, profile_id: uuid.UUID) -> AdminSection:
    rows = [
        [
            endpoint.channel,
            endpoint_link(endpoint, endpoint.address[:80]),
            "yes" if endpoint.active else "no",
            endpoint.consent,
            f"{_when(endpoint.consent_occurred_at)} {endpoint.consent_source} {endpoint.consent_evidence}".strip(),
            endpoint.reachability,
            f"{_when(endpoint.reachability_occurred_at)} {endpoint.reachability_source} "
            f"{endpoint.reachability_reason}".strip(),
            f"{_when(endpoint.declared_at)} {endpoint.declared_source}".strip(),
        ]
        for endpoint in profile_endpoints(tenant_id=tenant_id, profile_id=profile_id)
    ]
    return AdminSection(
        title="Channel endpoints",
        columns=[
            "Channel",
            "Address",
            "Active",
            "Consent",
            "Consent set",
            "Reachability",
            "Reachability set",
            "Declared",
        ],
        rows=rows,
        empty="No endpoints: no channel update declared one for this profile.",
        links=[("All endpoints of this profile", f"{reverse('admin:channels_endpoint_changelist')}?q={profile_id}")],
    )


def history_admin_section(*, tenant_id: int, profile_id: uuid.UUID) -> AdminSection:
    former = profile_merged_ids(tenant_id=tenant_id, profile_id=profile_id)
    entries = profile_endpoint_history(tenant_id=tenant_id, profile_id=profile_id, former_ids=former)
    rows = [
        [
            _when(entry.occurred_at),
            endpoint_link(entry.endpoint),
            entry.kind,
            entry.state,
            entry.source or "—",
            entry.evidence or "—",
            entry.effect,
            entry.trigger,
            entry.note or "—",
        ]
        for entry in entries
    ]
    return AdminSection(
        title="Consent, reachability and ownership history",
        columns=[
            "Occurred at",
            "Endpoint",
            "Kind",
            "State",
            "Source",
            "Evidence / reason",
            "Effect",
            "Trigger",
            "Note",
        ],
        rows=rows,
        empty="No history.",
        note="Append-only; includes endpoints this profile (or a profile merged into it) owned before. "
        "Newest 50 entries.",
    )


# --- model admins ---------------------------------------------------------------------------


class EndpointHistoryInline(ReadOnlyAdminMixin, TenantScopedTabularInline):
    model = EndpointHistory
    fields = ["occurred_at", "kind", "state", "profile", "source", "evidence", "effect", "trigger", "note"]
    readonly_fields = fields
    ordering = ["-occurred_at", "-id"]
    extra = 0
    can_delete = False
    verbose_name_plural = "History (consent, reachability, ownership), read-only"

    @admin.display(description="Profile")
    def profile(self, obj: EndpointHistory) -> str:
        return customer_link(obj.profile_id)


@admin.register(Endpoint)
class EndpointAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    list_display = [
        "short_address",
        "channel",
        "tenant",
        "owner",
        "active",
        "consent",
        "reachability",
        "readiness",
        "declared_at",
    ]
    list_filter = ["tenant", "channel", "consent", "reachability", "active"]
    search_fields = ["address"]  # replaced by get_search_results; declared so the search box shows
    search_help_text = (
        "An address as typed (' Ann@Example.com', '07400 123456' in the tenant's region, a push token), "
        "part of an address, or the owning profile's id."
    )
    list_select_related = ["tenant"]
    list_per_page = 50
    fields = [
        "tenant",
        "channel",
        "address",
        "owner",
        "active",
        "why",
        "consent",
        "consent_occurred_at",
        "consent_source",
        "consent_evidence",
        "reachability",
        "reachability_occurred_at",
        "reachability_source",
        "reachability_reason",
        "number_type",
        "declared_at",
        "declared_source",
        "others_declared_at",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields
    inlines = [EndpointHistoryInline]

    @admin.display(description="Address", ordering="address")
    def short_address(self, obj: Endpoint) -> str:
        return obj.address if len(obj.address) <= 80 else obj.address[:77] + "…"

    @admin.display(description="Profile")
    def owner(self, obj: Endpoint) -> str:
        return customer_link(obj.profile_id)

    @admin.display(description="Readiness")
    def readiness(self, obj: Endpoint) -> str:
        if not obj.active:
            return "inactive (not used)"
        readiness = readiness_judge(channel=obj.channel, endpoint=obj)
        return "ready" if readiness.ready else f"not ready: {readiness.reason}"

    @admin.display(description="Why")
    def why(self, obj: Endpoint) -> str:
        text = endpoint_explanation(obj, channel=obj.channel)
        if not obj.active:
            text += " This endpoint is not the profile's active one on the channel, so readiness does not use it."
        return text

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        if not search_term.strip():
            return queryset, False
        return admin_endpoints_search(queryset=queryset, text=search_term), False


@admin.register(EndpointHistory)
class EndpointHistoryAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    list_display = ["occurred_at", "tenant", "endpoint_address", "kind", "state", "source", "effect", "trigger"]
    list_filter = ["tenant", "kind", "state", "effect", "endpoint__channel"]
    search_fields = ["endpoint__address", "trigger", "source", "evidence"]
    list_select_related = ["tenant", "endpoint"]
    date_hierarchy = "occurred_at"
    fields = [
        "tenant",
        "endpoint_address",
        "profile",
        "kind",
        "state",
        "occurred_at",
        "source",
        "evidence",
        "trigger",
        "effect",
        "note",
        "recorded_at",
    ]
    readonly_fields = fields

    @admin.display(description="Endpoint")
    def endpoint_address(self, obj: EndpointHistory) -> str:
        return endpoint_link(obj.endpoint)

    @admin.display(description="Profile")
    def profile(self, obj: EndpointHistory) -> str:
        return customer_link(obj.profile_id)
