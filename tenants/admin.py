"""Admin for tenants, their API keys and the operators who work for them. A new key's
plaintext is shown once, on the page that answers its creation, and is never stored or
shown again. Tenants, operators, users and groups are for superusers only; an operator
sees only their own tenant's keys (tenants.scoping)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from .models import SCOPES, ApiKey, Operator, Tenant
from .scoping import SuperuserOnlyAdmin, TenantScopedAdmin
from .services import api_key_create, api_key_revoke, operator_create
from .write_keys import source_exists

User = get_user_model()
admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class CdpUserAdmin(SuperuserOnlyAdmin, UserAdmin):
    pass


@admin.register(Group)
class CdpGroupAdmin(SuperuserOnlyAdmin, GroupAdmin):
    pass


class OperatorCreateForm(forms.ModelForm):
    username = forms.CharField(max_length=150)
    email = forms.EmailField(required=False)
    password1 = forms.CharField(label="Password", widget=forms.PasswordInput, strip=False)
    password2 = forms.CharField(label="Password (again)", widget=forms.PasswordInput, strip=False)

    class Meta:
        model = Operator
        fields = ["tenant"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("password1") != cleaned.get("password2"):
            raise ValidationError("The two passwords differ.")
        if User.objects.filter(username=(cleaned.get("username") or "").strip()).exists():
            self.add_error("username", "This username is taken.")
        elif cleaned.get("password1"):
            try:
                validate_password(cleaned["password1"], user=User(username=cleaned.get("username") or ""))
            except ValidationError as error:
                self.add_error("password1", error)
        return cleaned


@admin.register(Operator)
class OperatorAdmin(SuperuserOnlyAdmin):
    """Admin accounts of marketing ops, each bound to one tenant."""

    list_display = ["username", "tenant", "created_at"]
    list_filter = ["tenant"]
    search_fields = ["user__username", "user__email"]
    list_select_related = ["user", "tenant"]
    readonly_fields = ["user", "tenant", "created_at"]

    @admin.display(description="Username", ordering="user__username")
    def username(self, obj: Operator) -> str:
        return obj.user.get_username()

    def get_form(self, request: HttpRequest, obj: Operator | None = None, change: bool = False, **kwargs: Any):
        if obj is None:
            kwargs["form"] = OperatorCreateForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Operator | None = None):
        if obj is None:
            return ["tenant", "username", "email", "password1", "password2"]
        return ["user", "tenant", "created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Operator | None = None):
        return [] if obj is None else self.readonly_fields

    def has_change_permission(self, request: HttpRequest, obj: Operator | None = None) -> bool:
        return False  # the tenant of an account never changes; create another operator

    def save_model(self, request: HttpRequest, obj: Operator, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data  # checked by OperatorCreateForm.clean like the service checks it
        created = operator_create(
            tenant=data["tenant"], username=data["username"], password=data["password1"], email=data["email"]
        )
        obj.pk, obj.user_id = created.pk, created.user_id


@admin.register(Tenant)
class TenantAdmin(SuperuserOnlyAdmin):
    list_display = ["slug", "name", "default_region", "created_at"]
    search_fields = ["slug", "name"]
    readonly_fields = ["created_at"]

    def has_delete_permission(self, request: HttpRequest, obj: Tenant | None = None) -> bool:
        # Deleting a tenant would cascade through millions of rows inside one request, and the
        # tables ingest writes per item carry their tenant without a database constraint
        # (tenants.models.hot_tenant_key): an ingest running meanwhile would leave orphans.
        return False


class ApiKeyCreateForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=[(s, s) for s in SCOPES], widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = ApiKey
        fields = ["tenant", "name", "scopes", "source_key", "expires_at"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        source = (data.get("source_key") or "").strip()
        if source and data.get("tenant") is not None:
            if list(data.get("scopes") or []) != ["ingest"]:
                self.add_error("scopes", "A write key (bound to a source) carries the ingest scope only.")
            if not source_exists(tenant=data["tenant"], key=source):
                self.add_error("source_key", f"{source!r} is not a registered source of this tenant.")
        return data


@admin.register(ApiKey)
class ApiKeyAdmin(TenantScopedAdmin):
    list_display = [
        "display_prefix",
        "name",
        "tenant",
        "scope_list",
        "created_at",
        "last_used_at",
        "expires_at",
        "status",
    ]
    list_filter = ["tenant", "revoked_at"]
    search_fields = ["prefix", "name", "tenant__slug"]
    actions = ["revoke_selected"]
    readonly_fields = ["tenant", "display_prefix", "scopes", "source_key", "created_at", "last_used_at", "revoked_at"]
    fields = [
        "tenant",
        "name",
        "display_prefix",
        "scopes",
        "source_key",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    ]

    @admin.display(description="Key")
    def display_prefix(self, obj: ApiKey) -> str:
        return f"{obj.display_prefix}_…"

    @admin.display(description="Scopes")
    def scope_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.scopes)

    @admin.display(description="Status")
    def status(self, obj: ApiKey) -> str:
        from django.utils import timezone

        if obj.revoked_at:
            return "revoked"
        if obj.expires_at and obj.expires_at <= timezone.now():
            return "expired"
        return "active"

    def get_form(self, request: HttpRequest, obj: ApiKey | None = None, change: bool = False, **kwargs: Any):
        if obj is None:
            kwargs["form"] = ApiKeyCreateForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None):
        if obj is None:
            return ["tenant", "name", "scopes", "source_key", "expires_at"]
        return super().get_fields(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None):
        if obj is None:
            return []
        return super().get_readonly_fields(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False  # keys are revoked, not deleted, so their use stays traceable

    def save_model(self, request: HttpRequest, obj: ApiKey, form: forms.ModelForm, change: bool) -> None:
        if change:
            obj.save(update_fields=["name", "expires_at"])
            return
        created = api_key_create(
            tenant=form.cleaned_data["tenant"],
            scopes=form.cleaned_data["scopes"],
            name=form.cleaned_data["name"],
            expires_at=form.cleaned_data["expires_at"],
            source=form.cleaned_data["source_key"],
        )
        obj.pk = created.api_key.pk
        obj.prefix = created.api_key.prefix
        request._created_api_key_plaintext = created.plaintext  # type: ignore[attr-defined]

    def response_add(self, request: HttpRequest, obj: ApiKey, post_url_continue: str | None = None) -> HttpResponse:
        plaintext = getattr(request, "_created_api_key_plaintext", None)
        if plaintext is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "title": "API key created",
            "api_key": ApiKey.objects.select_related("tenant").get(pk=obj.pk),
            "plaintext": plaintext,
            "opts": self.model._meta,
        }
        response = TemplateResponse(request, "admin/tenants/apikey/created.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke selected API keys")
    def revoke_selected(self, request: HttpRequest, queryset: Any) -> None:
        count = 0
        for api_key in queryset:
            if api_key.revoked_at is None:
                api_key_revoke(api_key=api_key)
                count += 1
        self.message_user(request, f"Revoked {count} API key(s).", messages.SUCCESS)
