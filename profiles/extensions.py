"""Hooks through which higher apps add to a profile's views without profiles or identity
importing them (DESIGN.md §2): sections of `GET /api/v1/profiles/{id}` and read-only
sections of the admin profile page. Register in AppConfig.ready()."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cdp_project.core.hooks import Registry

CHANNELS = ("EMAIL", "SMS", "PUSH", "WHATSAPP")

ProfileSection = Callable[..., object]


@dataclass(frozen=True)
class AdminSection:
    """A read-only table on the admin profile page."""

    title: str
    columns: Sequence[str]
    rows: Sequence[Sequence[object]] = ()
    empty: str = "None."
    note: str = ""
    links: Sequence[tuple[str, str]] = field(default_factory=tuple)  # (label, url) shown under the table


AdminSectionFn = Callable[..., AdminSection | None]

_api_sections: Registry[ProfileSection] = Registry("profile section")
_admin_sections: Registry[AdminSectionFn] = Registry("profile admin section")


def _no_endpoints(*, tenant_id: int, profile_id: uuid.UUID) -> object:
    return []


def _not_ready(*, tenant_id: int, profile_id: uuid.UUID) -> object:
    return {channel: {"ready": False, "reason": "no_endpoint"} for channel in CHANNELS}


def _no_identifiers(*, tenant_id: int, profile_id: uuid.UUID) -> object:
    return []


# Until the channels app registers its own, a profile has no endpoint and is ready nowhere;
# until identity registers its own, it has no identifier (the detail renders those rows itself).
DEFAULT_SECTIONS: dict[str, ProfileSection] = {
    "endpoints": _no_endpoints,
    "identifiers": _no_identifiers,
    "readiness": _not_ready,
}


def register_profile_section(key: str, fn: ProfileSection) -> None:
    """`fn(*, tenant_id, profile_id) -> object` adds `"<key>": ...` to the profile detail
    (replacing the default for `endpoints` and `readiness`)."""
    _api_sections.register(key, fn)


def unregister_profile_section(key: str) -> None:
    _api_sections.unregister(key)


def register_profile_admin_section(key: str, fn: AdminSectionFn) -> None:
    """`fn(*, tenant_id, profile_id) -> AdminSection | None` adds a read-only table to the
    admin profile page (e.g. channel endpoints, recent events). Sections show in key order."""
    _admin_sections.register(key, fn)


def unregister_profile_admin_section(key: str) -> None:
    _admin_sections.unregister(key)


def profile_sections(*, tenant_id: int, profile_id: uuid.UUID) -> dict[str, object]:
    sections = {**DEFAULT_SECTIONS, **_api_sections}
    return {key: sections[key](tenant_id=tenant_id, profile_id=profile_id) for key in sorted(sections)}


def profile_admin_sections(*, tenant_id: int, profile_id: uuid.UUID) -> list[AdminSection]:
    result = []
    for fn in _admin_sections.values():
        section = fn(tenant_id=tenant_id, profile_id=profile_id)
        if section is not None:
            result.append(section)
    return result
