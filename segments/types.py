"""Plain data of the segments app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SegmentSpec:
    """A segment as a caller asks for it; `definition` is the JSON of the language."""

    key: str
    name: str
    definition: Any


@dataclass(frozen=True)
class ExportColumn:
    """One chosen column of an export: a profile attribute or a derived attribute."""

    name: str
    source: str  # "attribute" or "derived"
    # A derived attribute whose values are still being computed when the export was asked for.
    backfilling: bool = False


@dataclass(frozen=True)
class ExportSpec:
    channel: str
    format: str  # "csv" or "ndjson"
    columns: tuple[ExportColumn, ...] = ()
