"""The segment editor: the definition as pretty JSON, checked by the same checker as the
API, with a live member count and a sample of members on the change page."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from cdp_project.core.errors import ProblemError
from cdp_project.core.parsers import loads_strict
from tenants.scoping import TenantScopedAdmin

from . import selectors, services
from .language import ContractView, definition_check
from .models import Segment
from .types import SegmentSpec


class PrettyJSONField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 24, "cols": 100, "style": "font-family: monospace"})

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return value
        return json.dumps(value, indent=2, ensure_ascii=False)

    def to_python(self, value: Any) -> Any:
        text = super().to_python(value)
        try:
            return loads_strict(text.encode("utf-8"))
        except ProblemError as error:
            raise ValidationError(f"Not valid JSON: {error.detail}") from None


class SegmentForm(forms.ModelForm):
    definition = PrettyJSONField(
        help_text="Conditions in the language of docs/segments.md, e.g. "
        '{"attribute": "tier", "op": "eq", "value": "gold"}.'
    )

    class Meta:
        model = Segment
        fields = ["tenant", "key", "name", "definition"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        tenant = cleaned.get("tenant") or getattr(self.instance, "tenant", None)
        if "definition" in cleaned and tenant is not None:
            _, problems = definition_check(definition=cleaned["definition"], contract=ContractView(tenant.pk))
            if problems:
                self.add_error("definition", [f"{p.pointer}: {p.detail}" for p in problems])
        return cleaned


@admin.register(Segment)
class SegmentAdmin(TenantScopedAdmin):
    form = SegmentForm
    list_display = ["key", "name", "tenant", "updated_at"]
    list_filter = ["tenant"]
    search_fields = ["key", "name"]
    list_select_related = ["tenant"]

    def get_readonly_fields(self, request: HttpRequest, obj: Segment | None = None) -> list[str]:
        if obj is None:
            return []
        return ["tenant", "key", "member_count", "member_sample", "created_at", "updated_at"]

    def get_fields(self, request: HttpRequest, obj: Segment | None = None) -> list[str]:
        fields = ["tenant", "key", "name", "definition"]
        return fields if obj is None else [*fields, "member_count", "member_sample", "created_at", "updated_at"]

    @admin.display(description="Members now")
    def member_count(self, obj: Segment) -> str:
        try:
            return f"{selectors.segment_member_count(segment=obj):,}"
        except ProblemError as error:
            return f"Cannot evaluate: {error.detail}"

    @admin.display(description=f"Sample of members (up to {selectors.SAMPLE_SIZE}, newest first)")
    def member_sample(self, obj: Segment) -> str:
        try:
            ids = selectors.segment_member_sample(segment=obj)
        except ProblemError:
            return "—"
        if not ids:
            return "No members."
        return format_html_join(
            ", ", '<a href="{}">{}</a>', ((reverse("admin:profiles_profile_change", args=[pid]), pid) for pid in ids)
        ) or format_html("—")

    def save_model(self, request: HttpRequest, obj: Segment, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data
        if change:
            spec = SegmentSpec(key=obj.key, name=data["name"], definition=data["definition"])
            services.segment_update(segment=Segment.objects.get(pk=obj.pk), spec=spec)
        else:
            spec = SegmentSpec(key=data["key"], name=data["name"], definition=data["definition"])
            created = services.segment_create(tenant_id=data["tenant"].pk, spec=spec)
            obj.pk = created.pk
