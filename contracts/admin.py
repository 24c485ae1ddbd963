"""The contracts admin: where marketing ops register and evolve event types, attributes
and derived attributes. Every save goes through `services`, so versions and history are
kept exactly as through the API. Changes that could break senders or consumers are
listed and must be confirmed before they are saved."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from cdp_project.core.errors import ProblemError
from cdp_project.core.parsers import loads_strict
from tenants.console import CommaSeparatedValuesField
from tenants.models import Tenant
from tenants.scoping import TenantScopedAdmin, TenantScopedTabularInline, request_tenant_id, scoped_queryset

from . import selectors, services, specs
from .models import (
    TYPE_ENUM,
    AttributeDefinition,
    DerivedAttributeDefinition,
    EventType,
    PropertyDefinition,
)
from .types import DerivedAttributeSpec, EventTypeSpec, FieldSpec
from .validator import contract_snapshot

CONFIRM_FIELD = "confirm_breaking_changes"
# JSON names of a typed field -> form field names
_FORM_FIELD = {
    "name": "name",
    "type": "type",
    "values": "values",
    "maxLength": "max_length",
    "minimum": "minimum",
    "maximum": "maximum",
    "required": "required",
    "filterable": "filterable",
    "derivable": "derivable",
    "description": "description",
}


def _typed_spec(form: forms.Form, *, kind: str) -> FieldSpec | None:
    """Check a form's typed field with the contract language's own parser, putting
    each problem on its form field. Answers the spec when there is none."""
    data = form.cleaned_data
    as_json: dict[str, Any] = {
        "name": data.get("name") or form.instance.name or None,  # read-only on change pages
        "type": data.get("type"),
        "filterable": bool(data.get("filterable")),
        "description": data.get("description") or "",
    }
    if kind == "property":
        as_json["required"] = bool(data.get("required"))
        as_json["derivable"] = bool(data.get("derivable"))
    if data.get("values"):
        as_json["values"] = data["values"]
    for json_name in ("maxLength", "minimum", "maximum"):
        value = data.get(_FORM_FIELD[json_name])
        if value is not None:
            as_json[json_name] = value
    if kind == "property":
        spec, problems = specs.parse_property(as_json)
    else:
        try:
            spec, problems = specs.parse_attribute_definition(as_json), ()
        except ProblemError as error:
            spec, problems = None, error.errors
    for problem in problems:
        token = problem.pointer.split("/")[1] if problem.pointer.count("/") else ""
        field = _FORM_FIELD.get(token)
        if field in form.fields and field not in form.errors:
            form.add_error(field, problem.detail)
        elif field not in form.errors:
            form.add_error(None, f"{problem.pointer}: {problem.detail}")
    return spec


def _confirmed(data: Any) -> bool:
    return str(data.get(CONFIRM_FIELD, "")).lower() in {"on", "true", "1"}


def _breaking_error(warnings: tuple[str, ...]) -> ValidationError:
    return ValidationError(
        [
            "These changes could break senders or consumers of this contract:",
            *(f"• {warning}" for warning in warnings),
            "Tick “I understand: save the changes that could break consumers” and save again to apply them.",
        ],
        code="breaking_changes",
    )


# --- event types ----------------------------------------------------------------------------


class PropertyDefinitionForm(forms.ModelForm):
    values = CommaSeparatedValuesField(required=False, help_text="enum only: the allowed values, separated by commas.")

    class Meta:
        model = PropertyDefinition
        fields = [
            "name",
            "type",
            "required",
            "filterable",
            "derivable",
            "values",
            "max_length",
            "minimum",
            "maximum",
            "description",
        ]
        widgets = {"description": forms.TextInput(attrs={"size": 30})}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.cleaned_data.get("DELETE") or not self.has_changed() and not self.instance.pk:
            return cleaned
        self.spec = _typed_spec(self, kind="property")
        return cleaned


class PropertyDefinitionFormSet(BaseInlineFormSet):
    """Checks the properties as a whole: duplicate names, derived attributes that depend
    on them, and changes that could break consumers (which must be confirmed)."""

    def new_specs(self) -> tuple[FieldSpec, ...]:
        kept: list[FieldSpec] = []
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or not form.cleaned_data:
                continue
            if self.can_delete and self._should_delete_form(form):
                continue
            spec = getattr(form, "spec", None)
            if spec is not None:
                kept.append(spec)
        return tuple(kept)

    def clean(self) -> None:
        super().clean()
        if any(form.errors for form in self.forms):
            return
        new = self.new_specs()
        names = [spec.name for spec in new]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValidationError(f"Each property is declared once; twice: {', '.join(duplicates)}.")
        if not self.instance.pk:
            return
        stored = EventType.objects.get(pk=self.instance.pk)
        problems = services.derived_dependency_problems(event_type=stored, properties=new)
        if new != services.property_specs_of(stored):
            problems += services.contract_dependent_problems(
                tenant_id=stored.tenant_id, event_type=stored.name, changes=new
            )
        if problems:
            raise ValidationError([problem.detail for problem in problems])
        warnings = services.breaking_changes(
            old_allow=stored.allow_additional_properties,
            old=services.property_specs_of(stored),
            new_allow=self.instance.allow_additional_properties,
            new=new,
        )
        if warnings and not _confirmed(self.data):
            # The change form shows these next to the checkbox that confirms them.
            self.breaking_warnings = warnings
            raise ValidationError(
                "Some changes could break senders or consumers: read them below, next to the save button, "
                "and confirm them there.",
                code="breaking_changes",
            )


class PropertyDefinitionInline(TenantScopedTabularInline):
    model = PropertyDefinition
    form = PropertyDefinitionForm
    formset = PropertyDefinitionFormSet
    extra = 1
    ordering = ["position", "name"]
    verbose_name = "property"
    verbose_name_plural = "properties (each change of these makes a new version)"


class EventTypeForm(forms.ModelForm):
    confirm_breaking_changes = forms.BooleanField(
        required=False,
        label="I understand: save the changes that could break consumers",
        help_text="Only needed when the page lists changes that could break senders or consumers.",
    )

    class Meta:
        model = EventType
        fields = ["tenant", "name", "description", "status", "allow_additional_properties"]


@admin.register(EventType)
class EventTypeAdmin(TenantScopedAdmin):
    form = EventTypeForm
    inlines = [PropertyDefinitionInline]
    list_display = ["name", "tenant", "status", "version", "property_count", "updated_at"]
    list_filter = ["tenant", "status", "allow_additional_properties"]
    search_fields = ["name", "description", "properties__name"]
    readonly_fields = ["version", "contract_pages", "created_at", "updated_at"]
    change_form_template = "admin/contracts/eventtype/change_form.html"

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("tenant").prefetch_related("properties")

    def get_readonly_fields(self, request: HttpRequest, obj: EventType | None = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        return ["tenant", "name", *fields] if obj is not None else fields

    def get_fields(self, request: HttpRequest, obj: EventType | None = None) -> list[str]:
        fields = ["tenant", "name", "description", "status", "allow_additional_properties"]
        if obj is None:
            return fields
        # The confirmation of breaking changes is drawn next to their list (change_form.html).
        return [*fields, "version", "contract_pages", "created_at", "updated_at"]

    def get_search_results(self, request: HttpRequest, queryset: Any, search_term: str) -> tuple[Any, bool]:
        queryset, _ = super().get_search_results(request, queryset, search_term)
        return queryset.distinct(), False

    @admin.display(description="properties")
    def property_count(self, obj: EventType) -> int:
        return len(obj.properties.all())

    @admin.display(description="Contract")
    def contract_pages(self, obj: EventType) -> str:
        return format_html(
            '<a href="{}">Version history</a> · <a href="{}">Try a sample event</a>',
            reverse("admin:contracts_eventtype_versions", args=[obj.pk]),
            reverse("admin:contracts_eventtype_try") + f"?event_type={obj.pk}",
        )

    def has_delete_permission(self, request: HttpRequest, obj: EventType | None = None) -> bool:
        # Stored events point at their event type and version: deprecate instead.
        return False

    def save_model(self, request: HttpRequest, obj: EventType, form: forms.ModelForm, change: bool) -> None:
        pass  # saved with its properties, through the service, in save_related

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool) -> None:
        properties_formset = next(fs for fs in formsets if isinstance(fs, PropertyDefinitionFormSet))
        properties = properties_formset.new_specs()
        data = form.cleaned_data
        changed_by = f"admin {request.user.get_username()}"
        if change:
            event_type = services.event_type_update(
                event_type=form.instance,
                description=data["description"],
                status=data["status"],
                allow_additional_properties=data["allow_additional_properties"],
                properties=properties,
                changed_by=changed_by,
            )
        else:
            event_type = services.event_type_create(
                tenant_id=data["tenant"].pk,
                spec=EventTypeSpec(
                    name=data["name"],
                    description=data["description"],
                    status=data["status"],
                    allow_additional_properties=data["allow_additional_properties"],
                    properties=properties,
                ),
                changed_by=changed_by,
            )
        form.instance.pk = event_type.pk
        form.instance.version = event_type.version
        # The admin's change log reads what a formset saved; the version history is the real record.
        properties_formset.new_objects, properties_formset.changed_objects, properties_formset.deleted_objects = (
            [],
            [],
            [],
        )

    def get_urls(self) -> list:
        own = [
            path(
                "<int:object_id>/versions/",
                self.admin_site.admin_view(self.versions_view),
                name="contracts_eventtype_versions",
            ),
            path("try/", self.admin_site.admin_view(self.try_view), name="contracts_eventtype_try"),
        ]
        return own + super().get_urls()

    def versions_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        event_type = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.has_view_permission(request, event_type):
            raise PermissionDenied
        versions = list(selectors.event_type_versions(event_type=event_type))
        rows = []
        for index, version in enumerate(versions):
            allow, properties = specs.definition_from_json(version.definition)
            previous = versions[index + 1] if index + 1 < len(versions) else None
            if previous is None:
                summary: tuple[str, ...] = ("First version.",)
            else:
                old_allow, old_properties = specs.definition_from_json(previous.definition)
                summary = _change_summary(old_allow, old_properties, allow, properties)
            rows.append(
                {
                    "version": version,
                    "allow_additional_properties": allow,
                    "properties": [{"spec": p, "details": _details(p)} for p in properties],
                    "summary": summary,
                    "is_current": version.version == event_type.version,
                }
            )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Version history of {event_type.name}",
            "opts": self.model._meta,
            "original": event_type,
            "event_type": event_type,
            "rows": rows,
        }
        return TemplateResponse(request, "admin/contracts/eventtype/versions.html", context)

    def try_view(self, request: HttpRequest) -> HttpResponse:
        initial: dict[str, Any] = {}
        chosen = request.GET.get("event_type")
        if chosen and chosen.isdigit():
            event_type = self.get_queryset(request).filter(pk=chosen).first()
            if event_type is not None:
                initial = {"tenant": event_type.tenant_id, "sample": json.dumps(_sample_event(event_type), indent=2)}
        form = SampleEventForm(request.POST or None, initial=initial)
        scope = request_tenant_id(request)
        form.fields["tenant"].queryset = scoped_queryset(request, Tenant.objects.order_by("slug"))
        if isinstance(scope, int):
            form.fields["tenant"].initial, form.fields["tenant"].empty_label = scope, None
        result = None
        if request.method == "POST" and form.is_valid():
            body = form.cleaned_data["sample"]
            event_type_name = body.get("eventType")
            if isinstance(event_type_name, str):
                snapshot = contract_snapshot(tenant_id=form.cleaned_data["tenant"].pk)
                check = snapshot.check_event(event_type=event_type_name, properties=body.get("properties", {}))
                result = {"check": check, "problems": [p.as_dict() for p in check.problems]}
            else:
                form.add_error("sample", 'The sample needs an "eventType" string and a "properties" object.')
        context = {
            **self.admin_site.each_context(request),
            "title": "Try a sample event",
            "opts": self.model._meta,
            "form": form,
            "result": result,
        }
        return TemplateResponse(request, "admin/contracts/eventtype/try_sample.html", context)


def _number(value: float | None) -> str:
    return "none" if value is None else f"{value:g}"


def _details(spec: FieldSpec) -> str:
    """A property's rules beyond its type, in words."""
    parts: list[str] = []
    if spec.values:
        parts.append("one of " + ", ".join(spec.values))
    if spec.max_length is not None:
        parts.append(f"at most {spec.max_length} characters")
    if spec.minimum is not None:
        parts.append(f"at least {_number(spec.minimum)}")
    if spec.maximum is not None:
        parts.append(f"at most {_number(spec.maximum)}")
    if spec.description:
        parts.append(f"“{spec.description}”")
    return "; ".join(parts) or "—"


def _flag_changes(before: FieldSpec, after: FieldSpec) -> list[str]:
    words: list[str] = []
    for flag, on, off in (
        ("required", "now required", "now optional"),
        ("filterable", "now usable in segments", "no longer usable in segments"),
        ("derivable", "now feeds derived attributes", "no longer feeds derived attributes"),
    ):
        if getattr(before, flag) != getattr(after, flag):
            words.append(on if getattr(after, flag) else off)
    return words


def _property_diff(before: FieldSpec, after: FieldSpec) -> str:
    """What changed in one property, in words: `'total': type number → integer, now required`."""
    words: list[str] = []
    if before.type != after.type:
        words.append(f"type {before.type} → {after.type}")
    words += _flag_changes(before, after)
    added = [v for v in after.values if v not in before.values]
    dropped = [v for v in before.values if v not in after.values]
    if added:
        words.append("accepts " + ", ".join(added))
    if dropped:
        words.append("no longer accepts " + ", ".join(dropped))
    for label, old, new in (
        ("max length", before.max_length, after.max_length),
        ("minimum", before.minimum, after.minimum),
        ("maximum", before.maximum, after.maximum),
    ):
        if old != new:
            words.append(f"{label} {_number(old)} → {_number(new)}")
    if before.description != after.description:
        words.append("description changed")
    return f"'{after.name}': " + (", ".join(words) or "reordered")


def _change_summary(
    old_allow: bool, old: tuple[FieldSpec, ...], new_allow: bool, new: tuple[FieldSpec, ...]
) -> tuple[str, ...]:
    """The difference between two versions, in words for marketing ops."""
    lines: list[str] = []
    old_names = {p.name: p for p in old}
    new_names = {p.name: p for p in new}
    lines += [
        f"Added '{name}' ({p.type}{', required' if p.required else ', optional'})."
        for name, p in new_names.items()
        if name not in old_names
    ]
    lines += [f"Removed '{name}'." for name in old_names if name not in new_names]
    lines += [
        f"Changed {_property_diff(old_names[name], p)}."
        for name, p in new_names.items()
        if name in old_names and old_names[name] != p
    ]
    if old_allow != new_allow:
        lines.append(f"Undeclared properties {'accepted' if new_allow else 'refused'} from now on.")
    warnings = services.breaking_changes(old_allow=old_allow, old=old, new_allow=new_allow, new=new)
    lines += [f"Could break consumers: {w}" for w in warnings]
    return tuple(lines) or ("No change of the rules.",)


def _sample_value(spec: FieldSpec) -> Any:
    examples: dict[str, Any] = {
        "string": "text",
        "integer": 1,
        "number": 9.99,
        "boolean": True,
        "datetime": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "array": [],
        "object": {},
    }
    if spec.type == TYPE_ENUM:
        return spec.values[0] if spec.values else ""
    return examples[spec.type]


def _sample_event(event_type: EventType) -> dict[str, Any]:
    return {
        "eventType": event_type.name,
        "properties": {spec.name: _sample_value(spec) for spec in services.property_specs_of(event_type)},
    }


class SampleEventForm(forms.Form):
    tenant = forms.ModelChoiceField(queryset=Tenant.objects.order_by("slug"))
    sample = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 16, "cols": 80, "style": "font-family: monospace"}),
        help_text='An event body as backends send it: {"eventType": "…", "properties": {…}}.',
    )

    def clean_sample(self) -> dict[str, Any]:
        text = self.cleaned_data["sample"]
        try:
            body = loads_strict(text.encode("utf-8"))
        except ProblemError as error:
            raise ValidationError(error.detail) from None
        if not isinstance(body, dict):
            raise ValidationError("The sample must be a JSON object.")
        return body


# --- attribute definitions --------------------------------------------------------------------


class AttributeDefinitionForm(forms.ModelForm):
    values = CommaSeparatedValuesField(required=False, help_text="enum only: the allowed values, separated by commas.")
    confirm_breaking_changes = forms.BooleanField(
        required=False, label="I understand: save the changes that could break consumers"
    )

    class Meta:
        model = AttributeDefinition
        fields = ["tenant", "name", "type", "filterable", "values", "max_length", "minimum", "maximum", "description"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        self.spec = _typed_spec(self, kind="attribute")
        if self.spec is not None and self.instance.pk:
            stored = AttributeDefinition.objects.get(pk=self.instance.pk)
            if services.attribute_definition_spec_of(stored) != self.spec:
                dependents = services.contract_dependent_problems(
                    tenant_id=stored.tenant_id, attribute=stored.name, changes=(self.spec,), at=""
                )
                if dependents:
                    raise ValidationError([problem.detail for problem in dependents], code="in_use")
            warnings = services.attribute_breaking_changes(
                old=services.attribute_definition_spec_of(stored), new=self.spec
            )
            if warnings and not self.cleaned_data.get(CONFIRM_FIELD):
                raise _breaking_error(warnings)
        return cleaned


@admin.register(AttributeDefinition)
class AttributeDefinitionAdmin(TenantScopedAdmin):
    form = AttributeDefinitionForm
    list_display = ["name", "tenant", "type", "filterable", "updated_at"]
    list_filter = ["tenant", "type", "filterable"]
    search_fields = ["name", "description"]
    readonly_fields = ["created_at", "updated_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: AttributeDefinition | None = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        return ["tenant", "name", *fields] if obj is not None else fields

    def get_fields(self, request: HttpRequest, obj: AttributeDefinition | None = None) -> list[str]:
        fields = ["tenant", "name", "type", "filterable", "values", "max_length", "minimum", "maximum", "description"]
        return fields if obj is None else [*fields, CONFIRM_FIELD, "created_at", "updated_at"]

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple:
        # What depends on an attribute (a saved segment) protects it from deletion, by name.
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        for definition in objs:
            for problem in services.contract_dependent_problems(
                tenant_id=definition.tenant_id, attribute=definition.name, changes=(), at=""
            ):
                protected.append(f"{definition.name}: {problem.detail}")
        return deleted, counts, perms_needed, protected

    def save_model(self, request: HttpRequest, obj: AttributeDefinition, form: forms.ModelForm, change: bool) -> None:
        if change:
            services.attribute_definition_update(definition=AttributeDefinition.objects.get(pk=obj.pk), spec=form.spec)
        else:
            created = services.attribute_definition_create(tenant_id=form.cleaned_data["tenant"].pk, spec=form.spec)
            obj.pk = created.pk


# --- derived attributes -----------------------------------------------------------------------


class DerivedAttributeForm(forms.ModelForm):
    class Meta:
        model = DerivedAttributeDefinition
        fields = ["tenant", "name", "event_type", "aggregation", "property_name", "description"]
        help_texts = {"property_name": "A derivable property of the event type; leave empty for count."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "event_type" in self.fields:
            self.fields["event_type"].queryset = EventType.objects.select_related("tenant").order_by(
                "tenant__slug", "name"
            )
            self.fields["event_type"].label_from_instance = lambda et: f"{et.tenant.slug}: {et.name}"

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        tenant, event_type = cleaned.get("tenant"), cleaned.get("event_type")
        if self.errors or tenant is None or event_type is None:
            return cleaned
        if event_type.tenant_id != tenant.pk:
            self.add_error("event_type", "Choose an event type of the same tenant.")
            return cleaned
        aggregation = cleaned.get("aggregation")
        prop = cleaned.get("property_name") or None
        if aggregation == "count" and prop:
            self.add_error("property_name", "A count has no property; leave it empty.")
            return cleaned
        if aggregation != "count" and not prop:
            self.add_error("property_name", f"{aggregation} needs a property.")
            return cleaned
        self.spec = DerivedAttributeSpec(
            name=cleaned["name"],
            event_type=event_type.name,
            property=prop,
            aggregation=aggregation,
            description=cleaned.get("description") or "",
        )
        for problem in services.derived_attribute_problems(tenant_id=tenant.pk, spec=self.spec):
            self.add_error("property_name" if problem.pointer == "/property" else "event_type", problem.detail)
        return cleaned


@admin.register(DerivedAttributeDefinition)
class DerivedAttributeAdmin(TenantScopedAdmin):
    form = DerivedAttributeForm
    list_display = ["name", "tenant", "event_type", "aggregation", "property_name", "status", "job_link", "created_at"]
    list_filter = ["tenant", "aggregation", "status"]
    search_fields = ["name", "event_type__name", "property_name"]
    list_select_related = ["tenant", "event_type", "job"]

    @admin.display(description="Job")
    def job_link(self, obj: DerivedAttributeDefinition) -> str:
        """The job computing its values, with its progress (backfilling values are not served)."""
        job = obj.job
        if job is None:
            return "-"
        progress = f"{job.progress_done}/{job.progress_total}" if job.progress_total else str(job.progress_done)
        url = reverse("admin:jobs_job_change", args=[job.pk])
        return format_html('<a href="{}">{} {} ({})</a>', url, job.kind, job.status, progress)

    def has_change_permission(self, request: HttpRequest, obj: DerivedAttributeDefinition | None = None) -> bool:
        # Stored values were computed by this definition: define a new one rather than edit it.
        return obj is None and super().has_change_permission(request, obj)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple:
        # A saved segment that uses a derived attribute protects it from deletion, by name.
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        for definition in objs:
            for problem in services.contract_dependent_problems(
                tenant_id=definition.tenant_id, derived=definition.name, at=""
            ):
                protected.append(f"{definition.name}: {problem.detail}")
        return deleted, counts, perms_needed, protected

    def save_model(
        self, request: HttpRequest, obj: DerivedAttributeDefinition, form: forms.ModelForm, change: bool
    ) -> None:
        created = services.derived_attribute_create(tenant_id=form.cleaned_data["tenant"].pk, spec=form.spec)
        obj.pk = created.pk
