"""Writes of the tenants app: tenants and their API keys."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from cdp_project.core.errors import FieldProblem, Problem, ProblemError, already_exists

from . import keys
from .models import SCOPE_INGEST, SCOPES, ApiKey, Operator, Tenant, validate_region
from .types import CreatedApiKey
from .write_keys import source_exists


def _invalid(pointer: str, code: str, detail: str) -> ProblemError:
    return Problem.VALIDATION_ERROR.error(detail, [FieldProblem(pointer, code, detail)])


def tenant_create(*, slug: str, name: str, default_region: str = "GB") -> Tenant:
    """Create a tenant with the default list of blocked identifier values."""
    region = default_region.strip().upper()
    try:
        validate_region(region)
    except ValidationError as error:
        raise _invalid("/defaultRegion", "invalid_region", error.messages[0]) from None
    tenant = Tenant(slug=slug, name=name or slug, default_region=region)
    try:
        tenant.full_clean(validate_unique=False, validate_constraints=False)
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        raise _invalid(f"/{field}", "invalid", messages[0]) from None
    try:
        with transaction.atomic():
            tenant.save()
    except IntegrityError:
        raise already_exists(f"A tenant {slug!r} exists already.") from None
    return tenant


def normalize_scopes(scopes: Iterable[str]) -> list[str]:
    wanted = {scope.strip().lower() for scope in scopes if scope.strip()}
    unknown = sorted(wanted - set(SCOPES))
    if unknown:
        raise _invalid("/scopes", "unknown_scope", f"Unknown scope(s) {', '.join(unknown)}; use {', '.join(SCOPES)}.")
    if not wanted:
        raise _invalid("/scopes", "required", "A key needs at least one scope.")
    return [scope for scope in SCOPES if scope in wanted]


def api_key_create(
    *,
    tenant: Tenant,
    scopes: Iterable[str],
    name: str = "",
    expires_at: dt.datetime | None = None,
    source: str = "",
) -> CreatedApiKey:
    """Create a key; the plaintext is in the result and nowhere else, ever. With `source`
    it is a write key: scope `ingest` only, every message sent with it lands in that
    source, and it is accepted only by the Segment-compatible ingress (/v1/*)."""
    normalized = normalize_scopes(scopes)
    source = source.strip()
    if source:
        if normalized != [SCOPE_INGEST]:
            raise _invalid("/scopes", "write_key_scope", "A key bound to a source carries the ingest scope only.")
        if not source_exists(tenant=tenant, key=source):
            raise Problem.UNKNOWN_SOURCE.error(
                f"{source!r} is not a registered source of tenant {tenant.slug!r}; create it first.",
                [FieldProblem("/source", "unknown_source", f"{source!r} is not a registered source")],
            )
    prefix, plaintext = keys.generate()
    api_key = ApiKey.objects.create(
        tenant=tenant,
        name=name,
        prefix=prefix,
        hashed_key=keys.hash_key(plaintext),
        scopes=normalized,
        expires_at=expires_at,
        source_key=source,
    )
    return CreatedApiKey(api_key=api_key, plaintext=plaintext)


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke a key; it fails from the very next request on. Revoking twice keeps the first time."""
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    api_key.refresh_from_db(fields=["revoked_at"])
    return api_key


def api_key_touch(*, api_key: ApiKey, resolution_seconds: int) -> None:
    """Record use, at most once per resolution window, so a busy key does not write on every request."""
    now = timezone.now()
    if api_key.last_used_at and (now - api_key.last_used_at).total_seconds() < resolution_seconds:
        return
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    api_key.last_used_at = now


def operator_create(*, tenant: Tenant, username: str, password: str, email: str = "") -> Operator:
    """Create an admin account of marketing ops that sees only `tenant` in the console:
    a staff user (never a superuser) with its Operator row, in one transaction. The
    password must pass the project's password validators."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.password_validation import validate_password

    User = get_user_model()
    username = username.strip()
    if not username:
        raise _invalid("/username", "required", "An operator needs a username.")
    if User.objects.filter(username=username).exists():
        raise already_exists(f"The user {username!r} already exists.")
    candidate = User(username=username, email=email)
    try:
        validate_password(password, user=candidate)
    except ValidationError as error:
        raise _invalid("/password", "weak_password", " ".join(error.messages)) from None
    with transaction.atomic():
        user = User.objects.create_user(username=username, email=email, password=password, is_staff=True)
        return Operator.objects.create(user=user, tenant=tenant)
