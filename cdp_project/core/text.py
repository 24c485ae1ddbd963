"""Text no database column can store: PostgreSQL refuses NUL in text, and a lone
surrogate cannot be encoded as UTF-8 (either would end in a 500). Checked at every edge
where text comes in (DESIGN.md §10)."""

from __future__ import annotations


def unstorable_reason(text: str) -> str | None:
    """Why `text` cannot be stored ("contains a NUL character", "contains a lone
    surrogate"), or None when it can."""
    if "\x00" in text:
        return "contains a NUL character"
    if has_lone_surrogate(text):
        return "contains a lone surrogate"
    return None


def has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
