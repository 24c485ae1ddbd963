"""The runtime admin: campaigns with their variable definitions (edited inline, saved
through `services`, checked by the same parser as the API), and participants with their
variable values, read-only (they are the runtime's state, written only by the runtime)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest

from cdp_project.core.admin_base import ReadOnlyAdminMixin
from tenants.console import CommaSeparatedValuesField
from tenants.scoping import TenantScopedAdmin, TenantScopedTabularInline

from . import services
from .models import Campaign, Participant, VariableDefinition, VariableValue
from .variables import VariableSpec, variable_parse

_FORM_FIELD = {
    "name": "name",
    "type": "type",
    "values": "values",
    "maxLength": "max_length",
    "minimum": "minimum",
    "maximum": "maximum",
    "default": "default",
}


class VariableDefinitionForm(forms.ModelForm):
    values = CommaSeparatedValuesField(required=False, help_text="enum only, comma-separated")
    default = forms.JSONField(required=False, help_text='JSON, e.g. 0, [], "intro"; empty for none')

    class Meta:
        model = VariableDefinition
        fields = ["name", "type", "values", "max_length", "minimum", "maximum", "default"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        as_json: dict[str, Any] = {
            "name": data.get("name"),
            "type": data.get("type"),
            "values": data.get("values") or None,
            "maxLength": data.get("max_length"),
            "minimum": data.get("minimum"),
            "maximum": data.get("maximum"),
            "default": data.get("default"),
        }
        spec, problems = variable_parse({k: v for k, v in as_json.items() if v is not None})
        for problem in problems:
            field = _FORM_FIELD.get(problem.pointer.lstrip("/").split("/")[0])
            self.add_error(field, problem.detail)
        self.spec = spec
        return data


class VariableDefinitionFormSet(BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        seen: set[str] = set()
        for form in self.forms:
            if not form.cleaned_data or form.cleaned_data.get("DELETE"):
                continue
            name = form.cleaned_data.get("name")
            if name in seen:
                form.add_error("name", f"The variable {name!r} is declared twice.")
            seen.add(name)

    def specs(self) -> list[VariableSpec]:
        kept = [
            form
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE") and getattr(form, "spec", None) is not None
        ]
        return [form.spec for form in kept]


class VariableDefinitionInline(TenantScopedTabularInline):
    model = VariableDefinition
    form = VariableDefinitionForm
    formset = VariableDefinitionFormSet
    extra = 1
    fields = ["name", "type", "values", "max_length", "minimum", "maximum", "default"]


@admin.register(Campaign)
class CampaignAdmin(TenantScopedAdmin):
    list_display = ["key", "name", "tenant", "active", "updated_at"]
    list_filter = ["active", "tenant"]
    search_fields = ["key", "name"]
    inlines = [VariableDefinitionInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Campaign | None = None) -> list[str]:
        return ["tenant", "key", "created_at", "updated_at"] if obj is not None else ["created_at", "updated_at"]

    def save_model(self, request: HttpRequest, obj: Campaign, form: forms.ModelForm, change: bool) -> None:
        if change:
            services.campaign_update(campaign=obj, name=obj.name, active=obj.active)
            return
        # The form has checked (tenant, key) against the unique constraint already.
        created = services.campaign_create(tenant=obj.tenant, key=obj.key, name=obj.name, active=obj.active)
        obj.pk = created.pk
        obj._state.adding = False
        obj._state.db = created._state.db

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset: Any, change: bool) -> None:
        if isinstance(formset, VariableDefinitionFormSet):
            services.campaign_update(campaign=form.instance, variables=formset.specs())
            # What the admin's change message reads; the service did the writing.
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
            return
        super().save_formset(request, form, formset, change)


class VariableValueInline(TenantScopedTabularInline):
    model = VariableValue
    fields = ["definition", "value", "updated_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Participant)
class ParticipantAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    list_display = ["id", "campaign", "profile", "tenant", "created_at"]
    list_filter = ["campaign__active", "tenant"]
    list_select_related = ["campaign", "tenant"]
    search_fields = ["=id", "=profile__id", "campaign__key"]
    readonly_fields = ["id", "tenant", "campaign", "profile", "created_at"]
    fields = readonly_fields
    inlines = [VariableValueInline]
