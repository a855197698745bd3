"""The built-in token endpoint (``/auth/token``), as Docker's token specification describes it.

GET with ``service`` and one or more ``scope`` parameters, Basic credentials or none (anonymous);
answers ``{"token", "access_token", "expires_in", "issued_at"}`` granting the part of the asked
scopes the access policy allows. Wrong credentials get 401. POST implements the OAuth2 grants
``docker login`` uses: ``grant_type=password&username=…&password=…&scope=…`` (with
``access_type=offline`` the answer adds a ``refresh_token``, what Docker stores as an identity
token) and ``grant_type=refresh_token&refresh_token=…``; a bad password or refresh token gets 401.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiohttp import web

from reference_server.auth.challenges import basic_challenge, basic_credentials
from reference_server.auth.scopes import Access, merge, parse_scope
from reference_server.auth.settings import AuthSettings
from reference_server.auth.tokens import InvalidToken, TokenSigner

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
REFRESH_AUDIENCE = "#refresh"
REFRESH_TTL = 24 * 3600.0


def _json(status: int, body: dict, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=json.dumps(body).encode(), content_type="application/json",
                        headers={**NO_STORE, **(headers or {})})


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return _json(status, {"errors": [{"code": code, "message": message, "detail": {}}]}, headers)


def rfc3339(epoch: float) -> str:
    """``2024-05-01T12:00:00Z`` for an epoch time."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _grant(settings: AuthSettings, subject: str, scopes: list[str]) -> list[Access]:
    wanted = merge([a for text in scopes for a in parse_scope(text)])
    return [g for g in (settings.policy.grant(subject, a) for a in wanted) if g is not None]


Handler = Callable[[web.Request], Awaitable[web.Response]]


def make_handlers(settings: AuthSettings) -> tuple[Handler, Handler]:
    """The GET and POST handlers of the token endpoint for ``settings``."""
    expires_in = max(1, round(settings.token_ttl))
    # Refresh tokens share the signing key but name another audience, so neither kind passes for the other.
    refresh_signer = TokenSigner(settings.service + REFRESH_AUDIENCE, settings.signer.key)

    async def get_token(request: web.Request) -> web.Response:
        service = request.query.get("service")
        if service and service != settings.service:
            return _error(400, "UNSUPPORTED", f"tokens are issued for service {settings.service!r} only")
        subject = ""
        if request.headers.get("Authorization"):
            credentials = basic_credentials(request)
            if credentials is None or not await settings.passwords.check(*credentials):
                return _error(401, "UNAUTHORIZED", "invalid username or password",
                              {"WWW-Authenticate": basic_challenge(settings)})
            subject = credentials[0]
        granted = _grant(settings, subject, request.query.getall("scope", []))
        token, issued = settings.signer.issue(subject, granted, settings.token_ttl)
        return _json(200, {"token": token, "access_token": token, "expires_in": expires_in,
                           "issued_at": rfc3339(issued)})

    async def post_token(request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("service") and form.get("service") != settings.service:
            return _json(400, {"error": "invalid_request", "error_description": "unknown service"})
        grant_type = form.get("grant_type")
        if grant_type == "password":
            user, password = str(form.get("username") or ""), str(form.get("password") or "")
            if not user or not await settings.passwords.check(user, password):
                return _json(401, {"error": "invalid_grant", "error_description": "invalid username or password"})
        elif grant_type == "refresh_token":
            user = refresh_subject(str(form.get("refresh_token") or ""))
            if not user:
                return _json(401, {"error": "invalid_grant", "error_description": "invalid refresh token"})
        else:
            return _json(400, {"error": "unsupported_grant_type"})
        granted = _grant(settings, user, [str(form.get("scope") or "")])
        token, issued = settings.signer.issue(user, granted, settings.token_ttl)
        body = {"access_token": token, "token_type": "Bearer", "expires_in": expires_in,
                "issued_at": rfc3339(issued), "scope": " ".join(a.scope() for a in granted)}
        if grant_type == "password" and form.get("access_type") == "offline":
            body["refresh_token"], _ = refresh_signer.issue(user, [], REFRESH_TTL)
        return _json(200, body)

    def refresh_subject(value: str) -> str:
        """The account a refresh token of this server was issued to, or '' for any other value."""
        try:
            return refresh_signer.verify(value).subject
        except InvalidToken:
            return ""

    return get_token, post_token
