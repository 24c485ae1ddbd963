"""Erasure in the ops console: request the erasure of a customer by an identifier as a human
types it, follow it, read its receipt; and the suppression list, which shows no value."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpRequest

from identity.models import IdentifierType, Suppression
from identity.normalization import InvalidIdentifier, normalize_value
from tenants.models import Tenant
from tenants.scoping import TenantScopedAdmin

from . import services
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
