"""Broken auth: a challenge without realm, a token endpoint without token, a registry that ignores
token scopes, and 401 answers without WWW-Authenticate.

Every variant runs the reference server in open token mode (``--auth token``: anyone may get a
token for anything, so no credentials are needed) and breaks one rule around it.
"""

from __future__ import annotations

import json
import re

from aiohttp import web

from reference_server.auth import AUTH_KEY, TOKEN_PATH
from reference_server.auth.scopes import needed_access
from reference_server.auth.tokens import InvalidToken
from tests.broken import Variant, rewrite

TOKEN_MODE = ("--auth", "token")
_REALM_RE = re.compile(r'realm="[^"]*",?')


def is_registry(request: web.Request) -> bool:
    return request.path.startswith("/v2")


def drop_realm(request: web.Request, response: web.StreamResponse) -> None:
    header = response.headers.get("WWW-Authenticate")
    if response.status == 401 and header:
        response.headers["WWW-Authenticate"] = _REALM_RE.sub("", header).replace("Bearer ,", "Bearer ")


def drop_challenge(request: web.Request, response: web.StreamResponse) -> None:
    if response.status == 401:
        response.headers.pop("WWW-Authenticate", None)


def tokenless_answer(request: web.Request, response: web.StreamResponse) -> None:
    if isinstance(response, web.Response) and response.status == 200 and response.body:
        body = json.loads(response.body)
        response.body = json.dumps({k: v for k, v in body.items() if k not in ("token", "access_token")}).encode()


@web.middleware
async def ignore_scopes(request: web.Request, handler):
    """Accept any valid token for any request: swap it for one granting what the request needs."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and request.path.startswith("/v2/"):
        settings = request.app[AUTH_KEY]
        try:
            claims = settings.signer.verify(token.strip())
        except InvalidToken:
            return await handler(request)
        need = needed_access(request.method, request.path, dict(request.query))
        wanted = list(need.required) + ([need.mount_source] if need.mount_source else [])
        widened, _ = settings.signer.issue(claims.subject, wanted, settings.token_ttl)
        headers = {**request.headers, "Authorization": f"Bearer {widened}"}
        request = request.clone(headers=headers)
    return await handler(request)


VARIANTS: list[Variant] = [
    Variant(
        name="challenge-without-realm",
        description="401 answers carry a Bearer challenge without realm: clients cannot find the token endpoint",
        select="test_auth and test_challenge_scheme_and_realm",
        must_fail=("test_challenge_scheme_and_realm",),
        middleware=rewrite(is_registry, drop_realm),
        server_args=TOKEN_MODE,
    ),
    Variant(
        name="token-endpoint-without-token",
        description='the token endpoint answers 200 with expires_in and issued_at but no "token"/"access_token"',
        select="test_auth and test_token_response_fields",
        must_fail=("test_token_response_fields",),
        middleware=rewrite(lambda request: request.path == TOKEN_PATH, tokenless_answer),
        server_args=TOKEN_MODE,
    ),
    Variant(
        name="scope-ignored",
        description="the registry accepts any valid token whatever its scope: a pull token can push",
        select="test_auth and (test_pull_token_cannot_push or test_insufficient_scope_challenge)",
        must_fail=("test_pull_token_cannot_push", "test_insufficient_scope_challenge"),
        middleware=ignore_scopes,
        server_args=TOKEN_MODE,
    ),
    Variant(
        name="401-without-www-authenticate",
        description="401 answers carry no WWW-Authenticate header",
        select="test_auth and test_401_carries_www_authenticate",
        must_fail=("test_401_carries_www_authenticate",),
        middleware=rewrite(is_registry, drop_challenge),
        server_args=TOKEN_MODE,
    ),
]
