"""The quarantine in the admin: refused items (read-only), the replay, the event types
senders use that nobody registered (one click to a draft), and the contract impact that
the event-type page shows ("version 4 would accept 1,203 quarantined events").

Contracts never import ingest (DESIGN.md §2): the event-type page reaches these views
through the `quarantine_impact` template tag and URLs by name."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from cdp_project.core.admin_base import ReadOnlyAdminMixin
from cdp_project.core.errors import ProblemError
from contracts import services as contract_services
from contracts import specs as contract_specs
from contracts.models import EventType
from tenants.models import Tenant
from tenants.scoping import TenantScopedAdmin, scoped_queryset

from . import quarantine, quarantine_selectors
from .models import QuarantinedItem, RecordKind


def _pretty(value: Any) -> str:
    return format_html(
        '<pre style="white-space: pre-wrap; margin: 0">{}</pre>', json.dumps(value, indent=2, ensure_ascii=False)
    )


def _visible_tenants(request: HttpRequest) -> Any:
    """The tenants this admin request may see: all for a superuser, the operator's own."""
    return scoped_queryset(request, Tenant.objects.order_by("slug"))


def _tenant_or_404(request: HttpRequest, tenant_id: Any) -> Tenant:
    return get_object_or_404(_visible_tenants(request), pk=tenant_id if str(tenant_id).isdigit() else None)


_CHANGELIST_LOOKUPS = {
    "tenant": "tenant__id__exact",
    "source": "source_key__exact",
    "event_type": "event_type__exact",
    "code": "code__exact",
    "kind": "kind__exact",
}


class ReplayForm(forms.Form):
    tenant = forms.ModelChoiceField(queryset=Tenant.objects.none())
    source = forms.CharField(required=False, max_length=255)
    event_type = forms.CharField(required=False, max_length=255)
    code = forms.ChoiceField(required=False, choices=[("", "any"), *((c, c) for c in quarantine.FILTER_CODES)])
    kind = forms.ChoiceField(required=False, choices=[("", "any"), *RecordKind.choices])
    dry_run = forms.BooleanField(required=False, label="Dry run: count the outcomes, change nothing")

    def __init__(self, *args: Any, tenants: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["tenant"].queryset = tenants

    def chosen_filter(self) -> quarantine.RejectionFilter:
        data = self.cleaned_data
        return quarantine.RejectionFilter(
            source=data["source"] or None,
            event_type=data["event_type"] or None,
            code=data["code"] or None,
            kind=data["kind"] or None,
        )


class DraftForm(forms.Form):
    definition = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 24, "cols": 90, "style": "font-family: monospace"}),
        help_text="The event type as the API takes it. Nothing is accepted until you save it.",
    )

    def clean_definition(self) -> Any:
        try:
            return json.loads(self.cleaned_data["definition"])
        except ValueError as error:
            raise ValidationError(f"Not JSON: {error}") from None


@admin.register(QuarantinedItem)
class QuarantinedItemAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):  # items leave by replay or retention
    list_display = ["received_at", "kind", "source_key", "event_type", "code", "external_event_id", "replay_count"]
    list_filter = ["tenant", "kind", "code", "source_key", "event_type", "received_at"]
    search_fields = ["=external_event_id", "source_key", "event_type", "code"]
    ordering = ["-received_at"]
    show_full_result_count = False
    fields = [
        "tenant",
        "kind",
        "source_key",
        "external_event_id",
        "event_type",
        "code",
        "received_at",
        "replay_count",
        "last_replayed_at",
        "errors_pretty",
        "payload_pretty",
    ]
    readonly_fields = fields
    change_list_template = "admin/ingest/quarantineditem/change_list.html"

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).filter(tenant__in=_visible_tenants(request)).select_related("tenant")

    @admin.display(description="problems")
    def errors_pretty(self, obj: QuarantinedItem) -> str:
        return _pretty(obj.errors)

    @admin.display(description="payload (as sent)")
    def payload_pretty(self, obj: QuarantinedItem) -> str:
        return _pretty(obj.payload)

    def get_urls(self) -> list:
        view = self.admin_site.admin_view
        own = [
            path("replay/", view(self.replay_view), name="ingest_quarantineditem_replay"),
            path("discovered/", view(self.discovered_view), name="ingest_quarantineditem_discovered"),
            path("discovered/draft/", view(self.draft_view), name="ingest_quarantineditem_draft"),
            path("impact/<int:event_type_id>/", view(self.impact_view), name="ingest_quarantineditem_impact"),
        ]
        return own + super().get_urls()

    def _context(self, request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
        return {**self.admin_site.each_context(request), "title": title, "opts": self.model._meta, **extra}

    def _require_view(self, request: HttpRequest) -> None:
        if not self.has_view_permission(request):
            raise PermissionDenied

    def _enqueue(self, request: HttpRequest, tenant: Tenant, chosen: quarantine.RejectionFilter, dry_run: bool) -> None:
        job = quarantine.rejections_replay_enqueue(tenant=tenant, filter=chosen, dry_run=dry_run)
        job_url = reverse("admin:jobs_job_change", args=[job.pk])
        what = "A dry run of the replay" if dry_run else "The replay"
        messages.success(
            request,
            format_html('{} is queued as <a href="{}">job {}</a>; the worker runs it.', what, job_url, job.pk),
        )

    def replay_view(self, request: HttpRequest) -> HttpResponse:
        """Queue a replay of the items that match a filter (runs on the worker)."""
        self._require_view(request)
        tenants = _visible_tenants(request)
        # Prefilled from the quarantine list's own filters when coming from there.
        initial = {
            name: request.GET.get(name) or request.GET.get(lookup, "") for name, lookup in _CHANGELIST_LOOKUPS.items()
        }
        form = ReplayForm(request.POST or None, initial=initial, tenants=tenants)
        if request.method == "POST" and form.is_valid():
            self._enqueue(request, form.cleaned_data["tenant"], form.chosen_filter(), form.cleaned_data["dry_run"])
            return HttpResponseRedirect(reverse("admin:ingest_quarantineditem_changelist"))
        return TemplateResponse(
            request,
            "admin/ingest/quarantineditem/replay.html",
            self._context(request, "Replay quarantined items", form=form),
        )

    def discovered_view(self, request: HttpRequest) -> HttpResponse:
        """Event types that senders use but nobody registered, per tenant."""
        self._require_view(request)
        sections = []
        for tenant in _visible_tenants(request):
            rows = list(quarantine_selectors.discovered_queryset(tenant=tenant)[:100])
            if rows:
                found = quarantine_selectors.discovered_describe(tenant=tenant, rows=rows)
                sections.append({"tenant": tenant, "types": found})
        return TemplateResponse(
            request,
            "admin/ingest/quarantineditem/discovered.html",
            self._context(request, "Discovered event types", sections=sections),
        )

    def draft_view(self, request: HttpRequest) -> HttpResponse:
        """A draft event type inferred from quarantined events; saved only when ops save it."""
        if not request.user.has_perm("contracts.add_eventtype"):
            raise PermissionDenied
        tenant = _tenant_or_404(request, request.GET.get("tenant"))
        name = request.GET.get("event_type", "")
        found = quarantine_selectors.discovered_get(tenant=tenant, event_type=name)
        if found is None:
            messages.warning(request, f"No unregistered event type {name[:100]!r} is quarantined for {tenant.slug}.")
            return HttpResponseRedirect(reverse("admin:ingest_quarantineditem_discovered"))
        draft = {
            "name": found.event_type,
            "description": f"Drafted from {found.count} quarantined events.",
            "status": "active",
            "allowAdditionalProperties": False,
            "properties": [{"name": p.name, "type": p.type, "required": p.required} for p in found.properties],
        }
        form = DraftForm(request.POST or None, initial={"definition": json.dumps(draft, indent=2)})
        if request.method == "POST" and form.is_valid():
            try:
                spec = contract_specs.parse_event_type(form.cleaned_data["definition"])
                if spec.name != found.event_type:
                    raise ValidationError("Keep the name the senders use, or the quarantined events stay unknown.")
                event_type = contract_services.event_type_create(
                    tenant_id=tenant.pk, spec=spec, changed_by=f"admin {request.user.get_username()}"
                )
            except ProblemError as error:
                for problem in error.errors or ():
                    form.add_error("definition", f"{problem.pointer}: {problem.detail}")
                if not error.errors:
                    form.add_error("definition", error.detail or error.title)
            except ValidationError as error:
                form.add_error("definition", error)
            else:
                messages.success(request, f"Event type {event_type.name!r} registered (version 1).")
                return HttpResponseRedirect(reverse("admin:contracts_eventtype_change", args=[event_type.pk]))
        return TemplateResponse(
            request,
            "admin/ingest/quarantineditem/draft.html",
            self._context(request, f"Draft event type {found.event_type}", form=form, found=found, tenant=tenant),
        )

    def impact_view(self, request: HttpRequest, event_type_id: int) -> HttpResponse:
        """How many quarantined events the current version would accept, and their replay."""
        self._require_view(request)
        event_type = get_object_or_404(EventType, pk=event_type_id, tenant__in=_visible_tenants(request))
        impact = quarantine_selectors.contract_impact(tenant=event_type.tenant, event_type=event_type.name)
        if request.method == "POST":
            chosen = quarantine.RejectionFilter(event_type=event_type.name, kind=RecordKind.EVENT)
            self._enqueue(request, event_type.tenant, chosen, dry_run=bool(request.POST.get("dry_run")))
            return HttpResponseRedirect(reverse("admin:contracts_eventtype_change", args=[event_type.pk]))
        changelist = reverse("admin:ingest_quarantineditem_changelist")
        query = {"tenant__id__exact": event_type.tenant_id, "event_type__exact": event_type.name}
        items_url = f"{changelist}?{urlencode(query)}"
        return TemplateResponse(
            request,
            "admin/ingest/quarantineditem/impact.html",
            self._context(
                request,
                f"Quarantined {event_type.name} events",
                event_type=event_type,
                impact=impact,
                items_url=items_url,
            ),
        )


def quarantined_items_link(violation: Any) -> str:
    """For the violations log: a link to the quarantined items of one of its rows."""
    kinds = {"(profile update)": RecordKind.PROFILE_UPDATE, "(channel update)": RecordKind.CHANNEL_UPDATE}
    query: dict[str, Any] = {"tenant__id__exact": violation.tenant_id, "source_key__exact": violation.source_key}
    if violation.event_type in kinds:
        query["kind__exact"] = kinds[violation.event_type]
    else:
        query["event_type__exact"] = "" if violation.event_type == "(unknown)" else violation.event_type
    if violation.code in quarantine.QUARANTINED_CODES:
        query["code__exact"] = violation.code
    elif violation.code == quarantine.DROPPED_CODE:
        return "not kept (quarantine full)"
    else:
        return "not kept"
    return format_html(
        '<a href="{}?{}">quarantined items</a>', reverse("admin:ingest_quarantineditem_changelist"), urlencode(query)
    )
