"""Registry authentication: WWW-Authenticate parsing, Basic, and Bearer tokens with a scope cache.

The flow follows Docker's token specification: on a 401 the client reads the challenge, asks the
realm for a token for ``service`` and ``scope`` (with Basic credentials or anonymously, or by
OAuth2 POST with a refresh token or a password), caches it per scope until it expires, and
retries with ``Authorization: Bearer``.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests

_PARAM_RE = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))\s*,?')
DEFAULT_TOKEN_LIFETIME = 60


class AuthError(RuntimeError):
    """Authentication could not be completed (bad challenge, token endpoint failure, …)."""


@dataclass(frozen=True)
class Challenge:
    """One challenge of a WWW-Authenticate header: scheme (lowercase) and its parameters."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")


def parse_challenges(header: str | None) -> list[Challenge]:
    """Parse a WWW-Authenticate value into challenges; malformed parts are skipped, never raised."""
    challenges: list[Challenge] = []
    text = (header or "").strip()
    while text:
        match = re.match(r"([A-Za-z][A-Za-z0-9_-]*)\s*", text)
        if not match:
            break
        scheme = match.group(1).lower()
        text = text[match.end():]
        params: dict[str, str] = {}
        while text:
            pm = _PARAM_RE.match(text)
            if not pm or re.match(r"[A-Za-z][A-Za-z0-9_-]*\s+[A-Za-z0-9_.-]+\s*=", text):
                break
            value = pm.group(2) if pm.group(2) is not None else pm.group(3)
            params[pm.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
            text = text[pm.end():]
        challenges.append(Challenge(scheme, params))
        text = text.lstrip(", ")
    return challenges


def basic_header(username: str, password: str) -> str:
    """The ``Authorization`` value for Basic credentials."""
    raw = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def repository_scope(name: str, actions: str) -> str:
    """``repository:<name>:<actions>``, e.g. ``repository:library/redis:pull,push``."""
    return f"repository:{name}:{actions}"


@dataclass
class Token:
    """A bearer token and the monotonic time after which it is no longer used.

    A token is renewed a little before it expires: 5 seconds early, or a fifth of its lifetime
    for short-lived tokens (a 2-second token is still used for 1.6 seconds).
    """

    value: str
    expires_at: float
    lifetime: float = DEFAULT_TOKEN_LIFETIME
    scope: str | None = None  # the scope it was asked for, to renew it with the same one

    def fresh(self, margin: float | None = None) -> bool:
        if margin is None:
            margin = min(5.0, self.lifetime / 5)
        return time.monotonic() + margin < self.expires_at


@dataclass
class TokenResponse:
    """What a token endpoint answered, kept for conformance checks of its fields."""

    status: int
    body: dict
    token: Token | None


class TokenCache:
    """Bearer tokens per (realm, service, scope), renewed on expiry or on a new 401."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str, str], Token] = {}
        self.fetches = 0

    def get(self, realm: str, service: str, scope: str) -> Token | None:
        token = self._tokens.get((realm, service, scope))
        return token if token and token.fresh() else None

    def expired(self, realm: str, service: str, scope: str) -> Token | None:
        """The cached token for this key when it is no longer fresh (time to renew it), else None."""
        token = self._tokens.get((realm, service, scope))
        return token if token is not None and not token.fresh() else None

    def put(self, realm: str, service: str, scope: str, token: Token) -> None:
        self._tokens[(realm, service, scope)] = token

    def forget(self, realm: str, service: str, scope: str) -> None:
        self._tokens.pop((realm, service, scope), None)

    def clear(self) -> None:
        self._tokens.clear()


OAUTH_CLIENT_ID = "registry-harness"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def fetch_token(
    session: requests.Session,
    challenge: Challenge,
    scope: str | None,
    username: str | None = None,
    password: str | None = None,
    timeout: float = 30.0,
    send: Callable[..., requests.Response] | None = None,
    *,
    identity_token: str | None = None,
    oauth: bool = False,
) -> TokenResponse:
    """Ask the challenge's realm for a token for ``service`` and ``scope`` and parse the answer.

    GET with Basic credentials (when given) or anonymously, as Docker's token specification says.
    With an ``identity_token`` (the refresh token ``docker login`` stores) the token is asked by
    OAuth2 POST ``grant_type=refresh_token``; with ``oauth`` and a username, by POST
    ``grant_type=password`` (asking for a refresh token too), falling back to GET when the realm
    answers the POST with 404 or 405. ``send(method, url, **kw)`` lets callers record the exchange.
    """
    realm = challenge.realm
    if not realm or urlsplit(realm).scheme not in ("http", "https"):
        raise AuthError(f"Bearer challenge has no usable realm: {realm!r}")
    sender = send or session.request
    service = challenge.params.get("service")
    if identity_token or (oauth and username):
        form = [("grant_type", "refresh_token" if identity_token else "password"), ("client_id", OAUTH_CLIENT_ID)]
        if service:
            form.append(("service", service))
        if scope:
            form.append(("scope", scope))  # OAuth2: one space-separated scope parameter
        if identity_token:
            form.append(("refresh_token", identity_token))
        else:
            form += [("username", username or ""), ("password", password or ""), ("access_type", "offline")]
        response = sender("POST", realm, data=form, headers=dict(FORM), timeout=timeout, allow_redirects=False)
        if identity_token or response.status_code not in (404, 405):
            return token_response(response, scope)
    params: list[tuple[str, str]] = []
    if service:
        params.append(("service", service))
    # Several scopes (a challenge may name them space-separated) go as several scope parameters.
    params += [("scope", item) for item in (scope or "").split()]
    headers = {}
    if username:
        headers["Authorization"] = basic_header(username, password or "")
    response = sender("GET", realm, params=params, headers=headers, timeout=timeout, allow_redirects=False)
    return token_response(response, scope)


def token_response(response: requests.Response, scope: str | None) -> TokenResponse:
    """The token endpoint's answer (GET or OAuth2 POST) as a TokenResponse; no token unless 200 with one."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    value = body.get("token") or body.get("access_token")
    token = None
    if response.status_code == 200 and isinstance(value, str) and value:
        try:
            lifetime = int(body.get("expires_in") or DEFAULT_TOKEN_LIFETIME)
        except (TypeError, ValueError):
            lifetime = DEFAULT_TOKEN_LIFETIME
        lifetime = max(lifetime, 1)
        token = Token(value, time.monotonic() + lifetime, lifetime, scope)
    return TokenResponse(response.status_code, body, token)
