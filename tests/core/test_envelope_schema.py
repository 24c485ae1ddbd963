"""The ingest envelopes are parsed by hand on the hot path (`ingest.pipeline`) and
documented by strict serializers (`ingest.serializers`); these tests pin the two
together, so the OpenAPI document cannot drift from what the API accepts: the same keys,
the same required fields, and the same problems (pointer, code, detail) for the same bad
envelopes."""

from __future__ import annotations

import copy
import datetime as dt

import pytest

from cdp_project.core.serializers import body_parse
from contracts.plans import contracts_plan_import
from ingest.context import ingest_context
from ingest.pipeline import (
    CHANNEL_FIELDS,
    CHANNEL_UPDATE_FIELDS,
    EVENT_FIELDS,
    PROFILE_UPDATE_FIELDS,
    prepare_channel_update,
    prepare_event,
    prepare_profile_update,
)
from ingest.serializers import ChannelUpdateInput, EventInput, ProfileUpdateInput
from ingest.services import source_create

PLAN = {"eventTypes": [{"name": "signup", "allowAdditionalProperties": True, "properties": []}]}
KINDS = {
    "event": (EventInput, EVENT_FIELDS, prepare_event, {"eventType": "signup", "properties": {}}),
    "profile_update": (ProfileUpdateInput, PROFILE_UPDATE_FIELDS, prepare_profile_update, {"attributes": {}}),
    "channel_update": (
        ChannelUpdateInput,
        CHANNEL_UPDATE_FIELDS,
        prepare_channel_update,
        {"channel": "EMAIL", "address": "ann@example.com"},
    ),
}
# Optional in both: a channel update without consent, reachability or reason changes none.
OPTIONAL = {"consent", "reachability", "reason"}


def _writable(serializer_class) -> dict:
    return {name: field for name, field in serializer_class().fields.items() if not field.read_only}


@pytest.mark.parametrize("kind", KINDS)
def test_the_serializer_declares_exactly_the_keys_the_parser_accepts_and_requires(kind):
    serializer_class, accepted, _, _ = KINDS[kind]
    fields = _writable(serializer_class)
    assert list(fields) and set(fields) == set(accepted)
    assert {name for name, field in fields.items() if not field.required} == OPTIONAL & set(accepted)


def _bad_envelopes(now: str, body: dict) -> list:
    good = {"source": "shop", "externalEventId": "x-1", "occurredAt": now, "identity": {"EXTERNAL": "c-1"}, **body}

    def but(**changes):
        out = {**good, **changes}
        return {key: value for key, value in out.items() if value is not ...}

    cases = [[], "x", None, 3, {}, good, but(zz=1, aa=2), but(zz=None)]
    for name in good:
        cases += [but(**{name: ...}), but(**{name: None}), but(**{name: 5}), but(**{name: []})]
    for value in ["", "   ", "s" * 64, "a\tb", "unknown", " shop "]:
        cases.append(but(source=value))
    for value in ["", "e" * 256, "a\x7fb", "  x-2  "]:
        cases.append(but(externalEventId=value))
    for value in ["yesterday", "2026-11-20T10:15:00", "2026-11-20T10:15:00+25:00", "1990-01-01T00:00:00Z"]:
        cases.append(but(occurredAt=value))
    cases += [but(occurredAt="2999-01-01T00:00:00Z"), but(occurredAt="2026-02-30T00:00:00Z")]
    cases += [but(identity={}), but(identity={"EMAIL": "nope"}), but(identity={"WHAT": "x", "PHONE": "12"})]
    if "eventType" in body:
        cases += [but(eventType=""), but(eventType="e" * 101), but(eventType="a\x00")]
    return cases


def _envelope_problems(problems, own: set[str]) -> list[tuple[str, str, str]]:
    """(pointer, code, detail) of the problems outside the kind's own body, and of its
    missing fields (but a channel update's own fields are channel_update_parse's)."""
    out = []
    for problem in problems:
        top = problem.pointer.split("/")[1] if problem.pointer else ""
        if problem.code == "unknown_event_type":  # the contract's answer, not the envelope's
            continue
        if top not in own or (problem.code == "required" and top not in CHANNEL_FIELDS):
            out.append((problem.pointer, problem.code, problem.detail))
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_the_parser_and_the_serializer_refuse_the_same_envelopes_with_the_same_problems(tenant, kind):
    contracts_plan_import(tenant_id=tenant.pk, plan=copy.deepcopy(PLAN))
    source_create(tenant=tenant, key="shop", name="Shop")
    ctx = ingest_context(tenant=tenant)
    serializer_class, _, prepare, body = KINDS[kind]
    context = {"tenant": tenant, "sources": ctx.sources, "now": ctx.now}
    # Problems of the kind's own body (a property's contract, a channel's address) are the
    # business of the contract and channel parsers; the envelope is what is compared.
    own = set(body) - {"eventType"} | set(CHANNEL_FIELDS)
    refused = 0
    for raw in _bad_envelopes((ctx.now - dt.timedelta(minutes=1)).isoformat(), body):
        by_hand = _envelope_problems(prepare(0, copy.deepcopy(raw), ctx).problems, own)
        _, by_serializer = body_parse(serializer_class, copy.deepcopy(raw), context=context)
        assert sorted(_envelope_problems(by_serializer, own)) == sorted(by_hand), raw
        refused += bool(by_hand)
    assert refused > 30  # the cases really are refused, by both
