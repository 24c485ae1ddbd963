"""The format and hashing of server API keys.

A key reads `rfk_<prefix>_<secret>`: the prefix is stored in clear so a key can be
found and recognised in the admin, the secret only as a SHA-256 hash.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass

KEY_MARKER = "rfk_"
PREFIX_LENGTH = 8
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits


@dataclass(frozen=True)
class ParsedKey:
    prefix: str
    secret: str


def generate() -> tuple[str, str]:
    """Return (prefix, plaintext key)."""
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    return prefix, f"{KEY_MARKER}{prefix}_{secrets.token_urlsafe(32)}"


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def parse(plaintext: str) -> ParsedKey | None:
    if not plaintext.startswith(KEY_MARKER) or len(plaintext) > 200:
        return None
    body = plaintext[len(KEY_MARKER) :]
    prefix, sep, secret = body.partition("_")
    if not sep or len(prefix) != PREFIX_LENGTH or not secret:
        return None
    if any(ch not in _PREFIX_ALPHABET for ch in prefix):
        return None
    return ParsedKey(prefix=prefix, secret=secret)


def matches(plaintext: str, hashed: str) -> bool:
    return hmac.compare_digest(hash_key(plaintext), hashed)
