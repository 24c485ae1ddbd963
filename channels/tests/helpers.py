"""Posting channel updates and reading profiles through the public API."""

from __future__ import annotations

import datetime as dt
import itertools

_ids = itertools.count(1)


def at(base: dt.datetime, minutes: int) -> str:
    return (base + dt.timedelta(minutes=minutes)).isoformat()


def channel_update(identity: dict, channel: str, address: str, occurred_at: str, *, key: str | None = None, **fields):
    body = {
        "source": "crm",
        "externalEventId": key or f"cu-{next(_ids)}",
        "occurredAt": occurred_at,
        "identity": identity,
        "channel": channel,
        "address": address,
    }
    body.update(fields)
    return body


def post(client, body: dict):
    return client.post("/api/v1/channel-updates", body, format="json")


def accepted(client, body: dict) -> str:
    """Post, expect 201, return the profile id."""
    response = post(client, body)
    assert response.status_code == 201, response.json()
    return response.json()["profileId"]


def profile(client, profile_id: str) -> dict:
    response = client.get(f"/api/v1/profiles/{profile_id}")
    assert response.status_code == 200, response.json()
    return response.json()
