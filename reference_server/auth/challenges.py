"""The wire format of auth: ``WWW-Authenticate`` challenges and ``Authorization: Basic`` parsing."""

from __future__ import annotations

import base64
import binascii

from aiohttp import web

from reference_server.auth.scopes import Access
from reference_server.auth.settings import TOKEN_PATH, AuthSettings


def quote(value: str) -> str:
    """An RFC 7230 quoted-string."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def token_realm(settings: AuthSettings, request: web.Request) -> str:
    """The token endpoint's absolute URL as this request reached the server (scheme and Host)."""
    return settings.token_realm or f"{request.scheme}://{request.host}{TOKEN_PATH}"


def bearer_challenge(settings: AuthSettings, request: web.Request, scopes: list[Access], error: str | None = None
                     ) -> str:
    """``Bearer realm=…,service=…[,scope=…][,error=…]``; several scopes are space-separated."""
    parts = [f"realm={quote(token_realm(settings, request))}", f"service={quote(settings.service)}"]
    if scopes:
        parts.append(f"scope={quote(' '.join(a.scope() for a in scopes))}")
    if error:
        parts.append(f"error={quote(error)}")
    return "Bearer " + ",".join(parts)


def basic_challenge(settings: AuthSettings) -> str:
    """``Basic realm="…"``."""
    return f"Basic realm={quote(settings.realm)}"


def basic_credentials(request: web.Request) -> tuple[str, str] | None:
    """(user, password) from an ``Authorization: Basic`` header, or None."""
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep and user else None
