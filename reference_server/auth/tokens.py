"""Signed bearer tokens: compact JWTs (HS256) carrying the Docker ``access`` claim.

The token endpoint and the registry share one process, so a shared secret (HMAC) is enough;
the secret is random per server process unless given, so a restart invalidates old tokens and
clients must renew them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from reference_server.auth.scopes import Access, covers

ISSUER = "reference-registry"
CLOCK_SKEW = 1.0
MAX_REMEMBERED = 4096


class InvalidToken(ValueError):
    """The token is malformed, wrongly signed, for another audience, or expired."""


@dataclass(frozen=True)
class Claims:
    """The verified content of a token: who it was issued to and what it grants."""

    subject: str
    audience: str
    issued_at: float
    expires_at: float
    access: tuple[Access, ...]

    def grants(self, wanted: Access) -> bool:
        return any(
            a.type == wanted.type and a.name == wanted.name and covers(a.actions, wanted.actions)
            for a in self.access
        )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Issues and verifies tokens for one service with one HMAC key."""

    def __init__(self, service: str, key: bytes | None = None) -> None:
        self.service = service
        self.key = key or secrets.token_bytes(32)
        self.kid = hashlib.sha256(self.key).hexdigest()[:16]
        self._verified: dict[str, Claims] = {}  # token -> claims: decode and check the signature once

    def issue(self, subject: str, access: list[Access], ttl: float, now: float | None = None) -> tuple[str, float]:
        """A signed token and its issue time (epoch seconds)."""
        now = time.time() if now is None else now
        header = {"alg": "HS256", "typ": "JWT", "kid": self.kid}
        claims = {
            "iss": ISSUER,
            "sub": subject,
            "aud": self.service,
            "iat": int(now),
            "nbf": int(now),
            "exp": round(now + ttl, 3),
            "jti": secrets.token_hex(8),
            "access": [a.claim() for a in access],
        }
        signing_input = _b64(json.dumps(header, separators=(",", ":")).encode()) + "." + _b64(
            json.dumps(claims, separators=(",", ":")).encode()
        )
        signature = hmac.new(self.key, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64(signature)}", now

    def verify(self, token: str, now: float | None = None) -> Claims:
        """The token's claims; raises InvalidToken unless signature, audience and lifetime check out."""
        now = time.time() if now is None else now
        known = self._verified.get(token)
        if known is not None:
            if now >= known.expires_at:
                raise InvalidToken("token expired")
            return known
        claims = self._decode(token, now)
        if len(self._verified) >= MAX_REMEMBERED:
            self._verified.clear()
        self._verified[token] = claims
        return claims

    def _decode(self, token: str, now: float) -> Claims:
        parts = token.split(".")
        if len(parts) != 3:
            raise InvalidToken("not a JWT")
        try:
            header = json.loads(_unb64(parts[0]))
            claims = json.loads(_unb64(parts[1]))
            signature = _unb64(parts[2])
        except ValueError as exc:
            raise InvalidToken("undecodable token") from exc
        if not isinstance(header, dict) or header.get("alg") != "HS256":
            raise InvalidToken("unsupported signing algorithm")
        expected = hmac.new(self.key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(signature, expected):
            raise InvalidToken("bad signature")
        if not isinstance(claims, dict) or claims.get("iss") != ISSUER or claims.get("aud") != self.service:
            raise InvalidToken("token issued for another service")
        try:
            expires_at = float(claims["exp"])
            not_before = float(claims.get("nbf", 0))
            issued_at = float(claims.get("iat", 0))
            access = tuple(
                Access(str(a["type"]), str(a["name"]), frozenset(str(x) for x in a["actions"]))
                for a in claims.get("access") or []
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidToken("malformed claims") from exc
        if now >= expires_at:
            raise InvalidToken("token expired")
        if now + CLOCK_SKEW < not_before:
            raise InvalidToken("token not valid yet")
        return Claims(str(claims.get("sub") or ""), self.service, issued_at, expires_at, access)
