"""One console per tenant: an operator of one tenant sees, finds, filters and acts on only
that tenant's data, on every page the admin registers, and another tenant's object URL
answers exactly like a missing one. The matrix walks `admin.site._registry`, so a model
registered tomorrow is covered (and fails here until its admin adopts tenants.scoping and
the world below holds rows of it)."""

from __future__ import annotations

import uuid
from io import StringIO

import pytest
from django.contrib import admin
from django.contrib.admin.filters import AllValuesFieldListFilter, RelatedFieldListFilter
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.db import models
from django.test import Client
from django.urls import reverse

from cdp_project.demo.seed import demo_tenant_seed
from contracts.models import EventType
from identity.models import IdentityConflict
from identity.suppression import suppressions_add
from privacy.services import erasure_request
from profiles.models import Profile
from tenants.models import Operator, Tenant
from tenants.scoping import TenantScopedAdminMixin
from tenants.services import api_key_create, operator_create

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-operator-password-1"
SUPERUSER_ONLY_MODELS = {"auth.User", "auth.Group", "tenants.Tenant", "tenants.Operator"} | {
    model._meta.label
    for model, model_admin in admin.site._registry.items()
    if getattr(model_admin, "superuser_only", False)
}


@pytest.fixture
def world(tenant, other_tenant):
    """Two tenants with the same demo data (so a search finds rows in both), API keys and
    one operator each."""
    for each in (tenant, other_tenant):
        demo_tenant_seed(tenant=each)
        api_key_create(tenant=each, scopes=["ingest"], name=f"{each.slug} shop")
        operator_create(tenant=each, username=f"ops-{each.slug}", password=PASSWORD)
        # An erasure request (queued, not run) and a suppressed identifier.
        target = Profile.objects.filter(tenant=each).values_list("pk", flat=True).first()
        erasure_request(tenant=each, target_profile_id=target, suppress=True, reason="ticket 1", requested_by="test")
        suppressions_add(tenant=each, identifiers=[("EMAIL", "gone@example.com")], reason="ticket 1", erasure_id=None)
    return tenant, other_tenant


def _client(username: str) -> Client:
    client = Client()
    client.force_login(get_user_model().objects.get(username=username))
    return client


def _superuser() -> Client:
    user = get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    client = Client()
    client.force_login(user)
    return client


def _url(model: type[models.Model], view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _rows(model_admin, tenant: Tenant) -> models.QuerySet:
    field = getattr(model_admin, "tenant_field", "tenant")
    return model_admin.model._default_manager.filter(**{field: tenant})


def _missing_pk(model: type[models.Model]):
    if isinstance(model._meta.pk, models.UUIDField):
        return uuid.uuid4()
    return (model._default_manager.order_by("-pk").values_list("pk", flat=True).first() or 0) + 10_000


def _search_term(model_admin, row) -> str | None:
    for name in model_admin.search_fields:
        path = name.lstrip("=^@")
        value = model_admin.model._default_manager.filter(pk=row.pk).values_list(path, flat=True).first()
        if value not in (None, ""):
            return str(value)[:40]
    return None


def _scoped_admins():
    for model, model_admin in sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label):
        if model._meta.label not in SUPERUSER_ONLY_MODELS:
            yield model, model_admin


def _check_changelist(client, model, model_admin, mine: set, others: set, problems: list[str], query=None) -> None:
    label = model._meta.label
    response = client.get(_url(model, "changelist"), query or {})
    if response.status_code != 200:
        problems.append(f"{label}: list {query or ''} answered {response.status_code}")
        return
    shown = set(response.context["cl"].queryset.values_list("pk", flat=True))
    if query is None and shown != mine:
        problems.append(f"{label}: the list shows {len(shown)} rows, the operator's tenant has {len(mine)}")
    if shown & others:
        problems.append(f"{label}: list {query or ''} shows another tenant's rows")
    html = response.content.decode()
    leaked = [pk for pk in others if _url(model, "change", pk) in html]
    if leaked:
        problems.append(f"{label}: list {query or ''} links to another tenant's rows {leaked[:3]}")
    for spec in response.context["cl"].filter_specs:
        if isinstance(spec, RelatedFieldListFilter):
            related = spec.field.related_model
            ids = [pk for pk, _ in spec.lookup_choices]
            field = "pk" if related is Tenant else "tenant"
            scope = response.wsgi_request._cdp_tenant_scope
            foreign = related._default_manager.filter(pk__in=ids).exclude(**{field: scope})
            if foreign.exists():
                problems.append(f"{label}: filter {spec.field_path} offers another tenant's {related._meta.label}")
        elif isinstance(spec, AllValuesFieldListFilter):
            own = set(
                model._default_manager.filter(pk__in=mine).values_list(spec.field_path, flat=True)
            )
            extra = {value for value in spec.lookup_choices if value is not None} - own
            if extra:
                problems.append(f"{label}: filter {spec.field_path} offers another tenant's {sorted(extra)[:3]}")


def test_every_registered_admin_is_scoped_or_superuser_only():
    unscoped = [
        model._meta.label
        for model, model_admin in _scoped_admins()
        if not isinstance(model_admin, TenantScopedAdminMixin)
    ]
    assert not unscoped, (
        f"these admins show every tenant to operators: {unscoped}. "
        "Inherit tenants.scoping.TenantScopedAdmin (see docs/console.md)."
    )
    for model, model_admin in admin.site._registry.items():
        if model._meta.label in SUPERUSER_ONLY_MODELS:
            assert getattr(model_admin, "superuser_only", False), model._meta.label


@pytest.mark.parametrize("direction", ["first", "second"])
def test_an_operator_lists_opens_searches_and_filters_only_their_tenant(world, direction):
    me, other = world if direction == "first" else world[::-1]
    client = _client(f"ops-{me.slug}")
    problems: list[str] = []
    for model, model_admin in _scoped_admins():
        label = model._meta.label
        mine = set(_rows(model_admin, me).values_list("pk", flat=True))
        others = set(_rows(model_admin, other).values_list("pk", flat=True))
        if not mine or not others:
            problems.append(f"{label}: the world has no rows of it in both tenants; extend demo_tenant_seed or world")
            continue
        _check_changelist(client, model, model_admin, mine, others, problems)
        # Detail: mine opens; another tenant's answers exactly like a missing one.
        own_page = client.get(_url(model, "change", next(iter(mine))))
        if own_page.status_code != 200:
            problems.append(f"{label}: the operator's own row answered {own_page.status_code}")
        foreign = client.get(_url(model, "change", next(iter(others))))
        missing = client.get(_url(model, "change", _missing_pk(model)))
        if (foreign.status_code, foreign.get("Location")) != (missing.status_code, missing.get("Location")):
            problems.append(
                f"{label}: another tenant's row answers {foreign.status_code} {foreign.get('Location')}, "
                f"a missing one {missing.status_code} {missing.get('Location')}"
            )
        for view in ("history", "delete"):
            page = client.get(_url(model, view, next(iter(others))))
            absent = client.get(_url(model, view, _missing_pk(model)))
            if (page.status_code, page.get("Location")) != (absent.status_code, absent.get("Location")):
                problems.append(f"{label}: {view} of another tenant's row differs from a missing one")
        # Search with a value taken from another tenant's row.
        row = model._default_manager.get(pk=next(iter(others)))
        term = _search_term(model_admin, row)
        if model_admin.search_fields and term is None:
            problems.append(f"{label}: no search term found in another tenant's row")
        elif term is not None:
            _check_changelist(client, model, model_admin, mine, others, problems, query={"q": term})
    assert not problems, "\n".join(problems)


def test_a_superuser_sees_every_tenant(world):
    client = _superuser()
    for model, model_admin in _scoped_admins():
        response = client.get(_url(model, "changelist"))
        assert response.status_code == 200, model._meta.label
        shown = set(response.context["cl"].queryset.values_list("pk", flat=True))
        every = set(model._default_manager.values_list("pk", flat=True))
        assert shown == every, model._meta.label


def test_tenants_users_groups_and_operators_are_for_superusers_only(world):
    me, _ = world
    Group.objects.create(name="marketing")
    operator = _client(f"ops-{me.slug}")
    root = _superuser()
    index = operator.get("/admin/").content.decode()
    for model, model_admin in admin.site._registry.items():
        if model._meta.label not in SUPERUSER_ONLY_MODELS:
            continue
        row = model._default_manager.first()
        assert operator.get(_url(model, "changelist")).status_code == 403, model._meta.label
        assert operator.get(_url(model, "change", row.pk)).status_code in (403, 302), model._meta.label
        assert _url(model, "changelist") not in index, model._meta.label
        assert root.get(_url(model, "changelist")).status_code == 200, model._meta.label


def test_a_staff_account_of_no_tenant_sees_nothing(world):
    get_user_model().objects.create_user("intern", password=PASSWORD, is_staff=True)
    client = _client("intern")
    for model, _ in admin.site._registry.items():
        assert client.get(_url(model, "changelist")).status_code == 403, model._meta.label


def test_forms_offer_only_the_operators_tenant_and_its_rows(world):
    me, other = world
    client = _client(f"ops-{me.slug}")
    add = client.get(_url(EventType, "add")).context["adminform"].form
    assert list(add.fields["tenant"].queryset) == [me]
    assert add.fields["tenant"].initial == me.pk
    derived = client.get(reverse("admin:contracts_derivedattributedefinition_add")).context["adminform"].form
    assert {et.tenant_id for et in derived.fields["event_type"].queryset} == {me.pk}
    campaign = client.get(reverse("admin:runtime_campaign_add")).context["adminform"].form
    assert list(campaign.fields["tenant"].queryset) == [me]
    # Posting another tenant anyway is refused by the form, nothing is created.
    response = client.post(
        reverse("admin:ingest_source_add"), {"tenant": other.pk, "key": "sneaky", "name": "x"}
    )
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()


def test_actions_and_custom_pages_touch_only_the_operators_tenant(world):
    me, other = world
    client = _client(f"ops-{me.slug}")
    theirs = IdentityConflict.objects.get(tenant=other)
    client.post(
        reverse("admin:identity_identityconflict_changelist"),
        {"action": "mark_reviewed", "_selected_action": [theirs.pk]},
    )
    theirs.refresh_from_db()
    assert theirs.reviewed_at is None

    their_type = EventType.objects.filter(tenant=other).first()
    assert client.get(reverse("admin:contracts_eventtype_versions", args=[their_type.pk])).status_code == 404
    try_page = client.get(reverse("admin:contracts_eventtype_try") + f"?event_type={their_type.pk}")
    assert list(try_page.context["form"].fields["tenant"].queryset) == [me]
    # Another tenant's event type is not preloaded: the page answers as for an unknown one.
    assert "sample" not in try_page.context["form"].initial


def test_create_operator_reads_the_password_from_the_environment(tenant, monkeypatch):
    monkeypatch.setenv("CDP_OPERATOR_PASSWORD", PASSWORD)
    out = StringIO()
    call_command("create_operator", "--tenant", tenant.slug, "--username", "maria", "--noinput", stdout=out)
    operator = Operator.objects.get(user__username="maria")
    assert operator.tenant == tenant and operator.user.is_staff and not operator.user.is_superuser
    assert operator.user.check_password(PASSWORD)
    assert "maria" in out.getvalue()
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_operator", "--tenant", tenant.slug, "--username", "maria", "--noinput")
    with pytest.raises(CommandError, match="no tenant"):
        call_command("create_operator", "--tenant", "nope", "--username", "other", "--noinput")
    monkeypatch.setenv("CDP_OPERATOR_PASSWORD", "short")
    with pytest.raises(CommandError, match="too short"):
        call_command("create_operator", "--tenant", tenant.slug, "--username", "weak", "--noinput")
    monkeypatch.delenv("CDP_OPERATOR_PASSWORD")
    with pytest.raises(CommandError, match="CDP_OPERATOR_PASSWORD"):
        call_command("create_operator", "--tenant", tenant.slug, "--username", "nopw", "--noinput")


def test_a_superuser_creates_an_operator_in_the_admin(tenant):
    client = _superuser()
    response = client.post(
        reverse("admin:tenants_operator_add"),
        {"tenant": tenant.pk, "username": "lena", "email": "", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    operator = Operator.objects.get(user__username="lena")
    assert operator.tenant == tenant and not operator.user.is_superuser
    weak = client.post(
        reverse("admin:tenants_operator_add"),
        {"tenant": tenant.pk, "username": "weak", "email": "", "password1": "abc", "password2": "abc"},
    )
    assert weak.status_code == 200 and not Operator.objects.filter(user__username="weak").exists()
