"""Building blocks every app's admin shares: form fields ops type into. (The tenant
scoping of the console lives in `tenants.scoping`.)"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.utils import formats, timezone


class CommaSeparatedValuesField(forms.CharField):
    """A list of strings typed as `EUR, USD, GBP` rather than as JSON.

    An untouched empty row must count as unchanged, whatever the model's default
    (None, [] or ""), or the admin's spare inline row fails with "This field is required"."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return ", ".join(str(v) for v in value)
        if isinstance(value, str) and value.startswith("["):
            try:
                return ", ".join(str(v) for v in json.loads(value))
            except ValueError:
                return value
        return value

    def to_python(self, value: Any) -> list[str]:
        text = super().to_python(value) or ""
        return [item.strip() for item in text.split(",") if item.strip()]

    def has_changed(self, initial: Any, data: Any) -> bool:
        if self.disabled:
            return False
        before = initial if isinstance(initial, list) else self.to_python(self.prepare_value(initial) or "")
        return [str(v) for v in before] != self.to_python(data)


def when(value: Any) -> str:
    """A timestamp as the console shows it everywhere: "1 Dec 2026, 09:40 UTC"; "—" for none."""
    if value is None:
        return "—"
    return formats.date_format(timezone.localtime(value), "DATETIME_FORMAT")
