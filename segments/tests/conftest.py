"""A small world built through the real endpoints: contracts, profiles with attributes,
events and channel endpoints in every readiness state; and a plain-Python evaluation of
a definition (the oracle the compiled SQL is compared with)."""

from __future__ import annotations

import copy
import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.utils import timezone

from cdp_project.core.timestamps import parse_rfc3339, parse_rfc3339_or_none
from channels.selectors import profile_readiness
from conftest import make_client
from contracts.plans import contracts_plan_import
from ingest.models import Event
from ingest.services import source_create
from jobs.worker import jobs_run_pending
from profiles.models import DerivedValue, Profile
from profiles.selectors import profile_attributes

PLAN = {
    "eventTypes": [
        {
            "name": "order_completed",
            "status": "active",
            "allowAdditionalProperties": False,
            "properties": [
                {"name": "orderId", "type": "string", "required": True, "filterable": False, "derivable": False},
                {"name": "total", "type": "number", "required": True, "filterable": True, "derivable": True},
                {
                    "name": "currency",
                    "type": "enum",
                    "values": ["EUR", "USD"],
                    "required": True,
                    "filterable": True,
                    "derivable": True,
                },
                {"name": "gift", "type": "boolean", "required": False, "filterable": True, "derivable": False},
                {"name": "coupon", "type": "string", "required": False, "filterable": True, "derivable": False},
                {"name": "items", "type": "integer", "required": False, "filterable": True, "derivable": True},
            ],
        },
        {
            "name": "page_viewed",
            "status": "active",
            "allowAdditionalProperties": False,
            "properties": [
                {"name": "path", "type": "string", "required": True, "filterable": True, "derivable": False},
                {"name": "at", "type": "datetime", "required": False, "filterable": True, "derivable": False},
            ],
        },
    ],
    "attributeDefinitions": [
        {"name": "firstName", "type": "string", "filterable": False},
        {"name": "tier", "type": "enum", "values": ["silver", "gold", "platinum"], "filterable": True},
        {"name": "country", "type": "string", "filterable": True},
        {"name": "age", "type": "integer", "filterable": True},
        {"name": "score", "type": "number", "filterable": True},
        {"name": "vip", "type": "boolean", "filterable": True},
        {"name": "birthday", "type": "datetime", "filterable": True},
        {"name": "tags", "type": "array", "filterable": True},
    ],
    "derivedAttributes": [
        {"name": "ordersTotal", "eventType": "order_completed", "property": "total", "aggregation": "sum"},
        {"name": "ordersCount", "eventType": "order_completed", "aggregation": "count"},
        {"name": "lastCurrency", "eventType": "order_completed", "property": "currency", "aggregation": "last"},
        {"name": "largestOrder", "eventType": "order_completed", "property": "total", "aggregation": "max"},
    ],
}

# Contract types of what a definition can name (the oracle types its comparisons by these).
ATTRIBUTE_TYPES = {a["name"]: a["type"] for a in PLAN["attributeDefinitions"]}
PROPERTY_TYPES = {
    (e["name"], p["name"]): p["type"] for e in PLAN["eventTypes"] for p in e["properties"] if p["filterable"]
}
DERIVED_TYPES = {"ordersTotal": "number", "ordersCount": "integer", "lastCurrency": "enum", "largestOrder": "number"}

_serial = itertools.count(1)


def _key(prefix: str) -> str:
    return f"{prefix}-{next(_serial)}"


@dataclass
class World:
    """Posts data through the API; remembers the profiles by a label."""

    api: Any
    tenant: Any
    now: dt.datetime
    profiles: dict[str, str] = field(default_factory=dict)

    def at(self, days: float = 0, hours: float = 0) -> str:
        return (self.now - dt.timedelta(days=days, hours=hours)).isoformat()

    def post(self, path: str, body: dict) -> str:
        response = self.api.post(path, body, format="json")
        assert response.status_code in (200, 201), response.content
        return response.json()["profileId"]

    def person(self, label: str, attributes: dict | None = None, *, days: float = 1) -> str:
        identity = {"EXTERNAL": label}
        body = {
            "source": "crm",
            "externalEventId": _key("pu"),
            "occurredAt": self.at(days),
            "identity": identity,
            "attributes": attributes or {},
        }
        self.profiles[label] = self.post("/api/v1/profile-updates", body)
        return self.profiles[label]

    def event(self, label: str, event_type: str, properties: dict, *, days: float = 1, hours: float = 0) -> str:
        body = {
            "source": "crm",
            "externalEventId": _key("ev"),
            "eventType": event_type,
            "occurredAt": self.at(days, hours),
            "identity": {"EXTERNAL": label},
            "properties": properties,
        }
        return self.post("/api/v1/events", body)

    def order(self, label: str, total: float, currency: str = "EUR", *, days: float = 1, **extra: Any) -> str:
        props = {"orderId": _key("o"), "total": total, "currency": currency, **extra}
        return self.event(label, "order_completed", props, days=days)

    def endpoint(self, label: str, channel: str, address: str, *, days: float = 1, **fields: Any) -> str:
        body = {
            "source": "crm",
            "externalEventId": _key("cu"),
            "occurredAt": self.at(days),
            "identity": {"EXTERNAL": label},
            "channel": channel,
            "address": address,
            **fields,
        }
        self.profiles.setdefault(label, self.post("/api/v1/channel-updates", body))
        return self.profiles[label]


@pytest.fixture
def contracts(tenant):
    contracts_plan_import(tenant_id=tenant.pk, plan=copy.deepcopy(PLAN))
    source_create(tenant=tenant, key="crm", name="CRM")
    jobs_run_pending()  # the derived attributes' (empty) backfills: they are ready


@pytest.fixture
def api(tenant, key_factory, contracts):
    return make_client(key_factory(tenant, ["ingest", "admin"]).plaintext)


@pytest.fixture
def empty_world(api, tenant):
    return World(api=api, tenant=tenant, now=timezone.now().replace(microsecond=0))


@pytest.fixture
def world(empty_world):
    """Nine profiles covering every kind of value, a missing one, a wrong-typed one (none can
    be stored: the contracts refuse them), recent and old events, and endpoints."""
    w = empty_world
    w.person(
        "ann",
        {
            "tier": "gold",
            "country": "DE",
            "age": 34,
            "score": 7.5,
            "vip": True,
            "birthday": "1990-05-01T00:00:00+02:00",
            "tags": ["a"],
            "firstName": "Ann",
        },
    )
    w.person(
        "bob",
        {"tier": "silver", "country": "AT", "age": 19, "score": 3, "vip": False, "birthday": "1990-04-30T22:00:00Z"},
    )
    w.person("cid", {"tier": "platinum", "country": "FR", "age": 61, "score": -2.25})
    w.person("dan", {"country": "DE", "age": 34, "vip": True, "birthday": "2001-12-24T18:30:00-05:00"})
    w.person("eve", {"tier": "gold", "score": 100})
    w.person("fay", {"tier": "gold", "country": "de", "age": 0, "vip": False})
    w.person("gus", {})
    w.person("hal", {"tier": "silver", "age": 45})
    w.person("ivy", {"tier": "gold", "country": "AT", "age": 28, "score": 7.5, "vip": True})
    # A removed attribute reads as missing.
    w.person("hal", {"age": None}, days=0.5)

    w.order("ann", 120.0, "EUR", days=2, gift=True, items=3)
    w.order("ann", 30.0, "USD", days=10, coupon="SPRING")
    w.order("ann", 80.0, "EUR", days=40)
    w.order("bob", 55.5, "USD", days=1, items=1)
    w.order("bob", 60, "USD", days=3, gift=False)
    w.order("cid", 10, "EUR", days=50)
    w.order("eve", 500, "EUR", days=0.2, gift=True, items=12)
    w.order("ivy", 50, "EUR", days=5)
    w.order("ivy", 51, "EUR", days=6)
    w.order("ivy", 49.99, "USD", days=29)
    w.event("ann", "page_viewed", {"path": "/pricing", "at": w.at(1)}, days=1)
    w.event("dan", "page_viewed", {"path": "/pricing", "at": "2026-01-01T10:00:00+01:00"}, days=2)
    w.event("gus", "page_viewed", {"path": "/home"}, days=20, hours=3)
    w.event("fay", "page_viewed", {"path": "/Pricing"}, days=0.1)

    w.endpoint("ann", "EMAIL", "ann@example.com", consent="granted")
    w.endpoint("bob", "EMAIL", "bob@example.com", consent="denied")
    w.endpoint("cid", "EMAIL", "cid@example.com", consent="pending")
    w.endpoint("dan", "EMAIL", "dan@example.com", consent="granted", reachability="bounced")
    w.endpoint("eve", "EMAIL", "eve@example.com", consent="granted", reachability="unreachable")
    w.endpoint("fay", "EMAIL", "fay@example.com")  # declared, consent never given
    w.endpoint("ivy", "EMAIL", "ivy@example.com", consent="granted")
    w.endpoint("ivy", "SMS", "+447400123456", consent="granted")  # a UK mobile
    w.endpoint("ann", "SMS", "+442079460958", consent="granted")  # a London landline: not_mobile
    w.endpoint("bob", "PUSH", "push-token-bob", consent="granted")
    return w


# --- the oracle ---------------------------------------------------------------------------------------


def _typed(value: Any, type_: str) -> Any:
    """The value if it has the contract type (as the oracle compares it), else None."""
    if value is None:
        return None
    if type_ in ("integer", "number"):
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    if type_ == "boolean":
        return value if isinstance(value, bool) else None
    if type_ == "datetime":
        return parse_rfc3339_or_none(value, exact=True)
    if type_ in ("string", "enum"):
        return value if isinstance(value, str) else None
    return value


def _target(value: Any, type_: str) -> Any:
    if type_ == "datetime":
        return parse_rfc3339(value, exact=True)
    if type_ in ("integer", "number"):
        return float(value)
    return value


def compare(value: Any, type_: str, op: str, target: Any = None) -> bool:
    if op == "exists":
        return value is not None
    typed = _typed(value, type_)
    if typed is None:
        return False
    if op == "in":
        return typed in [_target(t, type_) for t in target]
    t = _target(target, type_)
    return {
        "eq": typed == t,
        "neq": typed != t,
        "gt": typed > t if op == "gt" else False,
        "gte": typed >= t if op == "gte" else False,
        "lt": typed < t if op == "lt" else False,
        "lte": typed <= t if op == "lte" else False,
    }[op]


def _count_holds(n: int, op: str, value: int) -> bool:
    return {
        "eq": n == value,
        "neq": n != value,
        "gt": n > value,
        "gte": n >= value,
        "lt": n < value,
        "lte": n <= value,
    }[op]


@dataclass
class Snapshot:
    """Everything the oracle needs about the tenant's live profiles, read once."""

    attributes: dict[str, dict[str, Any]]
    derived: dict[str, dict[str, Any]]
    events: dict[str, list[tuple[str, dt.datetime, dict]]]
    readiness: dict[str, dict[str, bool]]


def snapshot(tenant_id: int) -> Snapshot:
    ids = [
        str(pk)
        for pk in Profile.objects.filter(tenant_id=tenant_id, merged_into__isnull=True).values_list("pk", flat=True)
    ]
    derived: dict[str, dict[str, Any]] = {pid: {} for pid in ids}
    for pid, name, value in DerivedValue.objects.filter(tenant_id=tenant_id).values_list("profile_id", "name", "value"):
        derived.setdefault(str(pid), {})[name] = value
    events: dict[str, list] = {pid: [] for pid in ids}
    for pid, event_type, occurred_at, properties in Event.objects.filter(tenant_id=tenant_id).values_list(
        "profile_id", "event_type", "occurred_at", "properties"
    ):
        events.setdefault(str(pid), []).append((event_type, occurred_at, properties))
    return Snapshot(
        attributes={pid: profile_attributes(profile_id=pid) for pid in ids},
        derived=derived,
        events=events,
        readiness={
            pid: {ch: r.ready for ch, r in profile_readiness(tenant_id=tenant_id, profile_id=pid).items()}
            for pid in ids
        },
    )


def _duration(text: str) -> dt.timedelta:
    import re

    match = re.match(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$", text)
    w, d, h, m, s = (int(g or 0) for g in match.groups())
    return dt.timedelta(weeks=w, days=d, hours=h, minutes=m, seconds=s)


def evaluate(definition: dict, snap: Snapshot, pid: str, now: dt.datetime) -> bool:
    """The definition language in plain Python, for one profile."""
    if "all" in definition:
        return all(evaluate(item, snap, pid, now) for item in definition["all"])
    if "any" in definition:
        return any(evaluate(item, snap, pid, now) for item in definition["any"])
    if "not" in definition:
        return not evaluate(definition["not"], snap, pid, now)
    if "attribute" in definition:
        name = definition["attribute"]
        return compare(snap.attributes[pid].get(name), ATTRIBUTE_TYPES[name], definition["op"], definition.get("value"))
    if "derived" in definition:
        name = definition["derived"]
        value = snap.derived[pid].get(name)
        if name == "ordersCount" and value is None and definition["op"] != "exists":
            value = 0
        return compare(value, DERIVED_TYPES[name], definition["op"], definition.get("value"))
    if "event" in definition:
        event_type = definition["event"]
        since = now - _duration(definition["within"]) if "within" in definition else None
        n = 0
        for kind, occurred_at, properties in snap.events[pid]:
            if kind != event_type or (since is not None and occurred_at < since):
                continue
            if all(
                compare(
                    properties.get(w["property"]), PROPERTY_TYPES[(event_type, w["property"])], w["op"], w.get("value")
                )
                for w in definition.get("where", [])
            ):
                n += 1
        count = definition.get("count")
        return n >= 1 if count is None else _count_holds(n, count["op"], count["value"])
    if "channel" in definition:
        return snap.readiness[pid][definition["channel"]] == definition["ready"]
    raise AssertionError(definition)


def expected_members(definition: dict, snap: Snapshot, now: dt.datetime) -> set[str]:
    return {pid for pid in snap.attributes if evaluate(definition, snap, pid, now)}
