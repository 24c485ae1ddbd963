"""`Authorization: Api-Key <key>` for server-to-server calls; write keys for the Segment-compatible ingress."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from django.conf import settings
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from .models import ApiKey, Tenant
from .selectors import api_key_check
from .services import api_key_touch

KEYWORD = "Api-Key"


@dataclass(frozen=True)
class ApiKeyPrincipal:
    """The caller behind an API key. `request.user` is this; `request.auth` is the key."""

    tenant: Tenant
    scopes: frozenset[str]
    key_prefix: str
    source_key: str = ""  # set for a write key: the one source it writes to

    is_authenticated = True
    is_anonymous = False


def _principal(api_key: ApiKey) -> ApiKeyPrincipal:
    return ApiKeyPrincipal(
        tenant=api_key.tenant,
        scopes=frozenset(api_key.scopes),
        key_prefix=api_key.prefix,
        source_key=api_key.source_key,
    )


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[ApiKeyPrincipal, ApiKey] | None:
        header = authentication.get_authorization_header(request)
        if not header:
            return None
        try:
            text = header.decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The Authorization header is not ASCII.") from None
        keyword, _, credential = text.partition(" ")
        if keyword.lower() != KEYWORD.lower():
            return None  # another scheme (e.g. Bearer): let its own authenticator or the 401 speak
        credential = credential.strip()
        if not credential or " " in credential:
            raise exceptions.AuthenticationFailed("Use 'Authorization: Api-Key <key>' with exactly one key.")
        check = api_key_check(plaintext=credential)
        if check.failure is not None or check.api_key is None:
            raise exceptions.AuthenticationFailed(check.failure)
        api_key = check.api_key
        api_key_touch(api_key=api_key, resolution_seconds=settings.CDP_API_KEY_LAST_USED_RESOLUTION_SECONDS)
        return _principal(api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return f'{KEYWORD} realm="api"'


class WriteKeyAuthentication(authentication.BaseAuthentication):
    """The Segment convention: HTTP Basic with the write key as user name and an empty
    password, or `writeKey` in the JSON body. Only the ingress under /v1/ uses it."""

    def authenticate(self, request: Request) -> tuple[ApiKeyPrincipal, ApiKey] | None:
        header = authentication.get_authorization_header(request)
        if header:
            plaintext = _basic_user(header)
        else:
            data = request.data  # parsing may answer 400/413 first: without the body there is no key to read
            plaintext = data.get("writeKey") if isinstance(data, dict) else None
            if plaintext is None:
                return None
            if not isinstance(plaintext, str):
                raise exceptions.AuthenticationFailed("writeKey must be a string.")
        check = api_key_check(plaintext=plaintext.strip())
        if check.failure is not None or check.api_key is None:
            raise exceptions.AuthenticationFailed(
                (check.failure or "The key is not known.").replace("API key", "write key")
            )
        api_key = check.api_key
        api_key_touch(api_key=api_key, resolution_seconds=settings.CDP_API_KEY_LAST_USED_RESOLUTION_SECONDS)
        return _principal(api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Basic realm="write key"'


def _basic_user(header: bytes) -> str:
    keyword, _, credential = header.partition(b" ")
    if keyword.lower() != b"basic":
        raise exceptions.AuthenticationFailed(
            "Use HTTP Basic with the write key as user name and an empty password, or writeKey in the body."
        )
    try:
        decoded = base64.b64decode(credential.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise exceptions.AuthenticationFailed("The Basic credential is not base64 of 'writeKey:'.") from None
    user, _, _password = decoded.partition(":")  # the password is empty by convention, and ignored
    return user
