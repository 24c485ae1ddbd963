"""Plain data crossing the channels app's boundary (the interface ingest, runtime and
segments rely on)."""

from __future__ import annotations

from dataclasses import dataclass

CHANNELS = ("EMAIL", "SMS", "PUSH", "WHATSAPP")
CONSENT_STATES = ("granted", "denied", "pending")
REACHABILITY_STATES = ("reachable", "bounced", "unreachable")
READINESS_REASONS = ("no_endpoint", "no_consent", "consent_pending", "bounced", "unreachable", "not_mobile")


@dataclass(frozen=True)
class ChannelUpdateSpec:
    """A checked channel update: the address normalized for its channel."""

    channel: str
    address: str
    consent: str | None = None
    reachability: str | None = None
    reason: str = ""

    def as_dict(self) -> dict[str, str | None]:
        return {
            "channel": self.channel,
            "address": self.address,
            "consent": self.consent,
            "reachability": self.reachability,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reason: str | None = None  # one of READINESS_REASONS when not ready

    def as_public(self) -> dict[str, object]:
        return {"ready": True} if self.ready else {"ready": False, "reason": self.reason}
