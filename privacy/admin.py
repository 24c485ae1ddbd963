"""Erasure in the ops console: request the erasure of a customer by an identifier as a human
types it, follow it, read its receipt; and the suppression list, which shows no value."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from cdp_project.core.errors import ProblemError
from identity.models import IdentifierType, Suppression
from identity.normalization import InvalidIdentifier, normalize_value
from profiles.admin import MergeLedgerEntryAdmin as BaseMergeLedgerEntryAdmin
from profiles.admin import profile_link
from profiles.models import MergeLedgerEntry
from tenants.models import Tenant
from tenants.scoping import TenantScopedAdmin

from . import reverts, services
from .models import Erasure


class ErasureRequestForm(forms.ModelForm):
    """The add page: the tenant, one identifier, a reason. Nothing typed here is stored."""

    identifier_type = forms.ChoiceField(choices=IdentifierType.choices, initial=IdentifierType.EMAIL)
    identifier_value = forms.CharField(
        max_length=1024, strip=False, help_text="As written anywhere (it is normalized before the lookup)."
    )

    class Meta:
        model = Erasure
        fields = ["tenant", "identifier_type", "identifier_value", "reason", "suppress"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        tenant: Tenant | None = data.get("tenant")
        if tenant is None or "identifier_value" not in data:
            return data
        try:
            value = normalize_value(
                type=data["identifier_type"], value=data["identifier_value"], region=tenant.default_region
            )
        except InvalidIdentifier as error:
            raise forms.ValidationError({"identifier_value": f"{data['identifier_type']} {error}"})
        try:
            data["target"] = services.erasure_target_find(tenant=tenant, identity={data["identifier_type"]: value})
        except services.ErasureTargetNotFound:
            raise forms.ValidationError({"identifier_value": "No customer of this tenant has this identifier."})
        return data


@admin.register(Erasure)
class ErasureAdmin(TenantScopedAdmin):
    list_display = ["requested_at", "status", "reason", "requested_by", "completed_at", "receipt_text", "tenant"]
    list_filter = ["tenant", "status"]
    search_fields = ["reason", "=id"]
    ordering = ["-requested_at"]
    readonly_fields = [
        "status",
        "requested_at",
        "requested_by",
        "started_at",
        "completed_at",
        "reason",
        "suppress",
        "receipt_text",
        "error",
    ]

    @admin.display(description="removed")
    def receipt_text(self, obj: Erasure) -> str:
        if obj.status != "succeeded":
            return "—"
        parts = [f"{count} {kind}" for kind, count in obj.receipt.items() if count]
        return ", ".join(parts) or "nothing"

    def get_form(self, request: HttpRequest, obj: Erasure | None = None, **kwargs: Any):
        if obj is None:
            kwargs["form"] = ErasureRequestForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Erasure | None = None) -> list[str]:
        if obj is None:
            return ["tenant", "identifier_type", "identifier_value", "reason", "suppress"]
        return ["tenant", *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: Erasure | None = None) -> list[str]:
        return [] if obj is None else ["tenant", *self.readonly_fields]

    def save_model(self, request: HttpRequest, obj: Erasure, form: forms.ModelForm, change: bool) -> None:
        if change:
            return
        data = form.cleaned_data
        with transaction.atomic():
            erasure = services.erasure_request(
                tenant=data["tenant"],
                target_profile_id=data["target"],
                suppress=data["suppress"],
                reason=data.get("reason", ""),
                requested_by=f"admin {request.user.get_username()}",
            )
        obj.pk = erasure.pk
        obj.refresh_from_db()
        messages.info(request, "The erasure runs on the background worker; this page shows its receipt when done.")

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Suppression)
class SuppressionAdmin(TenantScopedAdmin):
    """Deleting a row lifts the suppression: the identifier may come back as a new customer."""

    list_display = ["created_at", "type", "reason", "tenant"]
    list_filter = ["tenant", "type"]
    search_fields = ["reason"]
    ordering = ["-created_at"]
    fields = ["tenant", "type", "reason", "created_at", "erasure_id"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


# --- merge revert on a merge-ledger entry ------------------------------------------------------

admin.site.unregister(MergeLedgerEntry)


@admin.register(MergeLedgerEntry)
class MergeLedgerEntryAdmin(BaseMergeLedgerEntryAdmin):
    """The ledger of profiles.admin plus "Revert this merge": a preview in words (the same dry
    run as the API's), then a confirmation. The entry itself stays as it is (append-only); the
    revert is a new entry."""

    change_form_template = "admin/profiles/mergeledgerentry/change_form.html"

    def get_urls(self) -> list:
        own = [
            path(
                "<int:entry_id>/revert/",
                self.admin_site.admin_view(self.revert_view),
                name="profiles_mergeledgerentry_revert",
            )
        ]
        return own + super().get_urls()

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None):
        entry = self.get_object(request, object_id)
        revertible = (
            entry is not None
            and entry.rule != MergeLedgerEntry.RULE_REVERT
            and not MergeLedgerEntry.objects.filter(tenant_id=entry.tenant_id, reverts=entry.pk).exists()
        )
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "revertible": revertible})

    def revert_view(self, request: HttpRequest, entry_id: int) -> HttpResponse:
        entry = self.get_object(request, str(entry_id))  # scoped: another tenant's entry is missing
        if entry is None:
            raise Http404("No such merge-ledger entry.")
        if not self.has_view_permission(request, entry):
            raise PermissionDenied
        tenant = Tenant.objects.get(pk=entry.tenant_id)
        if request.method == "POST":
            try:
                outcome = reverts.merge_revert(tenant=tenant, merge_id=entry.pk, dry_run=False)
            except ProblemError as problem:
                messages.error(request, problem.detail)
                return HttpResponseRedirect(request.path)
            messages.success(request, f"Merge {entry.pk} was reverted: {revert_summary(outcome)}")
            return HttpResponseRedirect(reverse("admin:profiles_profile_change", args=[outcome.restored_id]))
        preview, refusal = None, None
        try:
            preview = reverts.merge_revert(tenant=tenant, merge_id=entry.pk, dry_run=True)
        except ProblemError as problem:
            refusal = problem.detail
        context = {
            **self.admin_site.each_context(request),
            "title": f"Revert merge {entry.pk}?",
            "opts": self.model._meta,
            "entry": entry,
            "original": entry,
            "preview": preview,
            "summary": revert_summary(preview) if preview else "",
            "refusal": refusal,
            "merged": profile_link(entry.merged_id),
            "survivor": profile_link(entry.survivor_id),
        }
        return TemplateResponse(request, "admin/profiles/mergeledgerentry/revert.html", context)


def revert_summary(outcome: reverts.RevertOutcome) -> str:
    """The revert in words, as ops read it before confirming."""
    counts = outcome.counts
    parts = [
        f"{counts.get(kind, 0)} {label}"
        for kind, label in (
            ("events", "event(s)"),
            ("profileUpdates", "profile update(s)"),
            ("channelUpdates", "channel update(s)"),
            ("endpoints", "endpoint(s)"),
            ("participants", "campaign participant(s)"),
        )
    ]
    identifiers = ", ".join(f"{item['type']} {item['value']}" for item in outcome.identifiers) or "no identifier"
    return (
        f"profile {outcome.restored_id} becomes a customer of its own again with {identifiers} and "
        f"{', '.join(parts)}; profile {outcome.survivor_id} keeps the rest. Derived values of both are "
        "recomputed, and the two are never merged again automatically."
    )
