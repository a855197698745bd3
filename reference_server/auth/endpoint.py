"""The built-in token endpoint (``/auth/token``), as Docker's token specification describes it.

GET with ``service`` and one or more ``scope`` parameters, Basic credentials or none (anonymous);
answers ``{"token", "access_token", "expires_in", "issued_at"}`` granting the part of the asked
scopes the access policy allows. Wrong credentials get 401, repeated failures from one address 429
with ``Retry-After``. POST implements the OAuth2 grants ``docker login`` uses:
``grant_type=password&username=…&password=…&scope=…`` (with ``access_type=offline`` the answer adds
a ``refresh_token``, what Docker stores as an identity token) and
``grant_type=refresh_token&refresh_token=…``; a bad password or refresh token gets 401. The form is
read within bounds (see ``forms.py``) and its errors carry both the OAuth2 ``error`` and the spec's
``errors`` list.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiohttp import web

from reference_server import errors
from reference_server.auth.challenges import basic_challenge, basic_credentials
from reference_server.auth.forms import FormError, read_form
from reference_server.auth.passwords import TooManyAttempts
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


def _form_error(status: int, oauth_error: str, code: str, message: str,
                headers: dict[str, str] | None = None) -> web.Response:
    """An OAuth2 error (RFC 6749 5.2) that is also a spec error body."""
    return _json(status, {"error": oauth_error, "error_description": message,
                          "errors": [{"code": code, "message": message, "detail": {}}]}, headers)


def _too_many(exc: TooManyAttempts, oauth: bool = False) -> web.Response:
    error = errors.too_many_requests(exc.retry_after)
    if oauth:
        return _form_error(429, "invalid_request", error.code, exc.reason, error.headers)
    return _json(429, json.loads(error.body()), error.headers)


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
            try:
                ok = credentials is not None and await settings.passwords.verify(request.remote, *credentials)
            except TooManyAttempts as exc:
                return _too_many(exc)
            if not ok:
                return _error(401, "UNAUTHORIZED", "invalid username or password",
                              {"WWW-Authenticate": basic_challenge(settings)})
            subject = credentials[0]
        granted = _grant(settings, subject, request.query.getall("scope", []))
        token, issued = settings.signer.issue(subject, granted, settings.token_ttl)
        return _json(200, {"token": token, "access_token": token, "expires_in": expires_in,
                           "issued_at": rfc3339(issued)})

    async def post_token(request: web.Request) -> web.Response:
        try:
            form = await read_form(request)
        except FormError as exc:
            return _form_error(exc.status, "invalid_request", exc.code, exc.message)
        if form.get("service") and form.get("service") != settings.service:
            return _form_error(400, "invalid_request", "UNSUPPORTED", "unknown service")
        grant_type = form.get("grant_type")
        if grant_type == "password":
            user, password = form.get("username") or "", form.get("password") or ""
            try:
                ok = bool(user) and await settings.passwords.verify(request.remote, user, password)
            except TooManyAttempts as exc:
                return _too_many(exc, oauth=True)
            if not ok:
                return _form_error(401, "invalid_grant", "UNAUTHORIZED", "invalid username or password")
        elif grant_type == "refresh_token":
            user = refresh_subject(form.get("refresh_token") or "")
            if not user:
                return _form_error(401, "invalid_grant", "UNAUTHORIZED", "invalid refresh token")
        else:
            return _form_error(400, "unsupported_grant_type", "UNSUPPORTED",
                               "grant_type must be password or refresh_token")
        granted = _grant(settings, user, [form.get("scope") or ""])
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
