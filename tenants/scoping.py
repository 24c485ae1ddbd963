"""One console per tenant: the admin shows an operator (a staff account bound to one
tenant, see `Operator`) only that tenant's data, and superusers everything.

Every registered ModelAdmin inherits `TenantScopedAdmin` (or mixes in
`TenantScopedAdminMixin`), every inline `TenantScopedInline*`. Adopting it is one line:

    from tenants.scoping import TenantScopedAdmin

    @admin.register(Job)
    class JobAdmin(TenantScopedAdmin):          # instead of admin.ModelAdmin
        tenant_field = "tenant"                 # the default; a path such as "job__tenant" works too
        ...

What the mixin then guarantees for an operator, without more code in the admin:
- lists, detail pages, history, delete pages, searches, date drill-downs, actions and the
  autocomplete of other admins see only rows whose `tenant_field` is the operator's tenant;
  another tenant's object URL answers exactly like a missing one;
- every foreign-key / many-to-many choice of a form (including choices a form sets in its
  own `__init__`) and of an inline's forms lists only the operator's tenant's rows; a
  `tenant` field offers only the operator's tenant, preselected;
- list filters on related rows (e.g. `"source"`) and on values (e.g. `"code"`,
  `"endpoint__channel"`) offer only values of the operator's tenant; the `tenant` filter
  and column are dropped;
- operators may view, add, change and delete what the admin allows anyone (its own
  `has_*_permission` overrides still win), without Django model permissions;
- `superuser_only = True` hides an admin from operators entirely (tenants, users, groups).
A staff account that is neither a superuser nor an operator sees nothing.

Custom admin views must read through `self.get_queryset(request)` (or
`scoped_queryset(request, queryset)`) and check `self.has_view_permission(request)`;
`request_tenant_id(request)` says whose data the request may see (None = everything).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.filters import AllValuesFieldListFilter, RelatedOnlyFieldListFilter
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import Operator, Tenant

ALL_TENANTS = None


class _NoTenant:
    """The scope of a staff account that is neither a superuser nor an operator."""


NO_TENANT = _NoTenant()


def operator_tenant_id(user: Any) -> int | None:
    """The tenant an admin account works for, or None when it is not an operator."""
    if not getattr(user, "is_authenticated", False):
        return None
    return Operator.objects.filter(user_id=user.pk).values_list("tenant_id", flat=True).first()


def request_tenant_id(request: HttpRequest) -> int | None | _NoTenant:
    """Whose data this admin request may see: ALL_TENANTS (None) for a superuser, the
    operator's tenant id, or NO_TENANT. Looked up once per request."""
    if hasattr(request, "_cdp_tenant_scope"):
        return request._cdp_tenant_scope
    user = request.user
    if getattr(user, "is_superuser", False) and user.is_active:
        scope: int | None | _NoTenant = ALL_TENANTS
    else:
        found = operator_tenant_id(user)
        scope = NO_TENANT if found is None else found
    request._cdp_tenant_scope = scope  # type: ignore[attr-defined]
    return scope


def is_operator(request: HttpRequest) -> bool:
    return isinstance(request_tenant_id(request), int)


def _tenant_path_of(model: type[models.Model]) -> str | None:
    if model is Tenant:
        return "pk"
    try:
        field = model._meta.get_field("tenant")
    except FieldDoesNotExist:
        return None
    return "tenant_id" if field.is_relation else None


def scoped_queryset(request: HttpRequest, queryset: QuerySet, tenant_field: str | None = None) -> QuerySet:
    """`queryset` narrowed to what the request may see."""
    scope = request_tenant_id(request)
    if scope is ALL_TENANTS:
        return queryset
    if scope is NO_TENANT:
        return queryset.none()
    if tenant_field is None:
        path = _tenant_path_of(queryset.model)
        if path is None:
            return queryset.none()  # a model without a tenant is no operator's business
    else:
        path = "tenant_id" if tenant_field == "tenant" else f"{tenant_field}__pk"
    return queryset.filter(**{path: scope})


def _scope_choice_fields(form_fields: dict[str, forms.Field], tenant_id: int) -> None:
    for field in form_fields.values():
        queryset = getattr(field, "queryset", None)
        if queryset is None:
            continue
        path = _tenant_path_of(queryset.model)
        if path is None:
            field.queryset = queryset.none()
            continue
        field.queryset = queryset.filter(**{path: tenant_id})
        if queryset.model is Tenant and isinstance(field, forms.ModelChoiceField):
            field.empty_label = None
            field.initial = tenant_id


def scoped_form_class(form_class: type[forms.BaseForm], tenant_id: int) -> type[forms.BaseForm]:
    """A subclass of `form_class` whose model choices list only the tenant's rows, even
    choices the form sets itself in `__init__`."""

    def __init__(self: forms.BaseForm, *args: Any, **kwargs: Any) -> None:
        form_class.__init__(self, *args, **kwargs)
        _scope_choice_fields(self.fields, tenant_id)

    return type(form_class.__name__, (form_class,), {"__init__": __init__, "__module__": form_class.__module__})


class ScopedAllValuesFieldListFilter(AllValuesFieldListFilter):
    """Django reads the values of a filter across a relation (`endpoint__channel`) from
    every row of the related table; read them from the admin's scoped rows instead."""

    def __init__(self, field, request, params, model, model_admin, field_path):  # noqa: ANN001
        super().__init__(field, request, params, model, model_admin, field_path)
        if request_tenant_id(request) is not ALL_TENANTS:
            rows = model_admin.get_queryset(request).exclude(**{f"{field_path}__isnull": True})
            self.lookup_choices = rows.distinct().order_by(field_path).values_list(field_path, flat=True)


def _field_at(model: type[models.Model], path: str) -> models.Field | None:
    field = None
    for part in path.split("__"):
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return None
        if field.is_relation and field.related_model is not None:
            model = field.related_model
    return field


class _PermissionsForOperators:
    """Operators may do what the admin allows anyone; superusers keep Django's rules."""

    superuser_only = False

    def _operator_allowed(self, request: HttpRequest) -> bool:
        return not self.superuser_only and is_operator(request)

    def has_module_permission(self, request: HttpRequest) -> bool:
        if request_tenant_id(request) is ALL_TENANTS:
            return super().has_module_permission(request)
        return self._operator_allowed(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if request_tenant_id(request) is ALL_TENANTS:
            return super().has_view_permission(request, obj)
        return self._operator_allowed(request)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        if request_tenant_id(request) is ALL_TENANTS:
            return super().has_add_permission(request, *args)
        return self._operator_allowed(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if request_tenant_id(request) is ALL_TENANTS:
            return super().has_change_permission(request, obj)
        return self._operator_allowed(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if request_tenant_id(request) is ALL_TENANTS:
            return super().has_delete_permission(request, obj)
        return self._operator_allowed(request)


class TenantScopedAdminMixin(_PermissionsForOperators):
    """Scopes a ModelAdmin to the operator's tenant (see the module docstring)."""

    tenant_field = "tenant"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return scoped_queryset(request, super().get_queryset(request), self.tenant_field)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        scope = request_tenant_id(request)
        return scoped_form_class(form, scope) if isinstance(scope, int) else form

    def get_changelist_form(self, request: HttpRequest, **kwargs: Any) -> Any:
        form = super().get_changelist_form(request, **kwargs)
        scope = request_tenant_id(request)
        return scoped_form_class(form, scope) if isinstance(scope, int) else form

    def get_list_display(self, request: HttpRequest) -> Any:
        shown = super().get_list_display(request)
        if is_operator(request):
            return [name for name in shown if name != "tenant"] or shown
        return shown

    def get_list_filter(self, request: HttpRequest) -> Any:
        chosen = super().get_list_filter(request)
        if request_tenant_id(request) is ALL_TENANTS:
            return chosen
        scoped: list[Any] = []
        for item in chosen:
            if item == "tenant" or (isinstance(item, tuple) and item[0] == "tenant"):
                continue
            if isinstance(item, str):
                field = _field_at(self.model, item)
                if field is not None and field.is_relation:
                    item = (item, RelatedOnlyFieldListFilter)
                elif field is not None and not getattr(field, "choices", None) and "__" in item:
                    item = (item, ScopedAllValuesFieldListFilter)
            scoped.append(item)
        return scoped

    def get_search_fields(self, request: HttpRequest) -> Any:
        fields = super().get_search_fields(request)
        if is_operator(request):
            return [name for name in fields if not name.lstrip("=^@").startswith("tenant__")]
        return fields


class TenantScopedAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    """`admin.ModelAdmin` scoped to the operator's tenant: what every registered admin inherits."""


class TenantScopedInlineMixin(_PermissionsForOperators):
    """Scopes an inline's rows and its forms' choices to the operator's tenant."""

    tenant_field = "tenant"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return scoped_queryset(request, super().get_queryset(request), self.tenant_field)

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        formset = super().get_formset(request, obj, **kwargs)
        scope = request_tenant_id(request)
        if isinstance(scope, int):
            formset.form = scoped_form_class(formset.form, scope)
        return formset


class TenantScopedTabularInline(TenantScopedInlineMixin, admin.TabularInline):
    pass


class TenantScopedStackedInline(TenantScopedInlineMixin, admin.StackedInline):
    pass


class SuperuserOnlyAdmin(admin.ModelAdmin):
    """Tenants, users, groups, operators: never shown to an operator."""

    superuser_only = True

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_superuser
