"""Broken auth: challenges without realm, service or scope, with unquoted parameters or a garbled
realm, naming a service the token endpoint refuses; token answers without token, with short or
non-numeric lifetimes or a malformed issued_at; a token endpoint whose 401 has no challenge; a
registry that ignores token scopes, expiry, signatures or the password; single-use tokens; 401
answers without WWW-Authenticate; OAuth2 grants that hand out tokens for a wrong password or refuse
their own refresh tokens; and anonymous pulls served altered bytes.

Most variants run the reference server in open token mode (``--auth token``: anyone may get a
token for anything, so no credentials are needed) and break one rule around it. Those about an
access policy (a forbidden repository, anonymous versus signed-in pulls) use the committed test
policy ``data/auth-access.json``: account ``variant-tester`` with a fixed test-only password may do
everything in ``conformance-*`` and nothing elsewhere; anonymous may pull ``conformance-*``.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from reference_server import errors
from reference_server.auth import AUTH_KEY, TOKEN_PATH
from reference_server.auth.challenges import bearer_challenge
from reference_server.auth.scopes import Access, merge, needed_access, parse_scope
from reference_server.auth.tokens import Claims, InvalidToken
from tests.broken import Variant, rewrite

TOKEN_MODE = ("--auth", "token")
ACCESS_FILE = Path(__file__).resolve().parent / "data" / "auth-access.json"
POLICY_MODE = ("--auth", f"token:{ACCESS_FILE}")
TEST_ACCOUNT = (("OCI_USERNAME", "variant-tester"), ("OCI_PASSWORD", "test-only-password-for-broken-variants"))
FORBIDDEN_REPO = "forbidden/conformance"
_REALM_RE = re.compile(r'realm="[^"]*",?')


def is_registry(request: web.Request) -> bool:
    return request.path.startswith("/v2")


def drop_realm(request: web.Request, response: web.StreamResponse) -> None:
    header = response.headers.get("WWW-Authenticate")
    if response.status == 401 and header:
        response.headers["WWW-Authenticate"] = _REALM_RE.sub("", header).replace("Bearer ,", "Bearer ")


def challenge_param(change):
    """A response change that rewrites the WWW-Authenticate challenge of every 401 with ``change(header)``."""

    def edit(request: web.Request, response: web.StreamResponse) -> None:
        header = response.headers.get("WWW-Authenticate")
        if response.status == 401 and header:
            response.headers["WWW-Authenticate"] = change(header)

    return edit


def unquote_service(header: str) -> str:
    return re.sub(r'service="([^"]*)"', r"service=\1", header)


def without_param(name: str):
    return lambda header: re.sub(rf',?\b{name}="[^"]*"', "", header).replace("Bearer ,", "Bearer ")


def drop_challenge(request: web.Request, response: web.StreamResponse) -> None:
    if response.status == 401:
        response.headers.pop("WWW-Authenticate", None)


def tokenless_answer(request: web.Request, response: web.StreamResponse) -> None:
    if isinstance(response, web.Response) and response.status == 200 and response.body:
        body = json.loads(response.body)
        response.body = json.dumps({k: v for k, v in body.items() if k not in ("token", "access_token")}).encode()


def edit_token_answer(change):
    """A response change for 200 answers of the token endpoint: ``change(request, body) -> body``."""

    def edit(request: web.Request, response: web.StreamResponse) -> None:
        if isinstance(response, web.Response) and response.status == 200 and response.body:
            response.body = json.dumps(change(request, json.loads(response.body))).encode()

    return edit


def reissued(request: web.Request, body: dict, access=None, ttl: float | None = None) -> dict:
    """``body`` with its token replaced by one for the same subject, granting ``access`` and living ``ttl``."""
    settings = request.app[AUTH_KEY]
    claims = settings.signer.verify(body["token"])
    token, _ = settings.signer.issue(claims.subject, list(claims.access if access is None else access),
                                     settings.token_ttl if ttl is None else ttl)
    return {**body, "token": token, "access_token": token}


def thirty_second_tokens(request: web.Request, body: dict) -> dict:
    """Tokens that live 30 s, below the 60 s older clients assume."""
    return {**reissued(request, body, ttl=30), "expires_in": 30}


def issued_at_without_zone(request: web.Request, body: dict) -> dict:
    """``issued_at`` as Python's ``str(datetime)``: a space for "T" and no time zone."""
    return {**body, "issued_at": str(datetime.now(UTC).replace(tzinfo=None))}


def everything_asked_for(request: web.Request, body: dict) -> dict:
    """A signed-in account gets every scope it asks for: the policy is not applied when issuing."""
    if not request.app[AUTH_KEY].signer.verify(body["token"]).subject:
        return body
    wanted = merge([a for text in request.query.getall("scope", []) for a in parse_scope(text)])
    return reissued(request, body, access=wanted)


@web.middleware
async def wrong_password_is_anonymous(request: web.Request, handler):
    """The token endpoint treats a wrong password as no credentials and issues an anonymous token."""
    response = await handler(request)
    if request.path == TOKEN_PATH and response.status == 401 and request.headers.get("Authorization"):
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        return await handler(request.clone(headers=headers))
    return response


def bearer_token(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and request.path.startswith("/v2") else None


def single_use_tokens():
    """Every token is accepted once: a replay cache that refuses the second use of any token."""
    used: set[str] = set()

    @web.middleware
    async def middleware(request: web.Request, handler):
        token = bearer_token(request)
        if token is not None:
            if token in used:
                settings = request.app[AUTH_KEY]
                challenge = bearer_challenge(settings, request, [], "invalid_token")
                raise errors.unauthorized({"reason": "token already used"}, headers={"WWW-Authenticate": challenge})
            used.add(token)
        return await handler(request)

    return middleware


def claims_ignoring_expiry(request: web.Request, token: str) -> Claims | None:
    """The claims of a correctly signed token, checked as of its issue time (so expiry never counts)."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
        return request.app[AUTH_KEY].signer.verify(token, now=float(payload["iat"]))
    except (InvalidToken, ValueError, KeyError, IndexError, TypeError):
        return None


@web.middleware
async def tokens_never_expire(request: web.Request, handler):
    """Check a token's signature but not its exp: an expired token is swapped for a fresh one."""
    token = bearer_token(request)
    if token:
        settings = request.app[AUTH_KEY]
        try:
            settings.signer.verify(token)
        except InvalidToken:
            claims = claims_ignoring_expiry(request, token)
            if claims is not None:
                fresh, _ = settings.signer.issue(claims.subject, list(claims.access), settings.token_ttl)
                request = request.clone(headers={**request.headers, "Authorization": f"Bearer {fresh}"})
    return await handler(request)


@web.middleware
async def anonymous_pulls_reserialized(request: web.Request, handler):
    """Anonymous manifest GETs come from a mirror that re-serializes the JSON (other bytes, other digest)."""
    response = await handler(request)
    token = bearer_token(request)
    if request.method == "GET" and "/manifests/" in request.path and token and response.status == 200:
        try:
            anonymous = request.app[AUTH_KEY].signer.verify(token).subject == ""
        except InvalidToken:
            anonymous = False
        if anonymous and isinstance(response, web.Response) and response.body:
            response.body = json.dumps(json.loads(response.body), indent=2).encode()
    return response


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


def realm_unquoted(header: str) -> str:
    return re.sub(r'realm="([^"]*)"', r"realm=\1", header)


def realm_garbled(header: str) -> str:
    """The realm's closing quote is lost: ``realm="https://…/auth/token,service="…"``."""
    return re.sub(r'realm="([^"]*)"', r'realm="\1', header, count=1)


def service_renamed(header: str) -> str:
    return header.replace('service="reference-registry"', 'service="another-service"')


def expires_in_text(request: web.Request, body: dict) -> dict:
    """``expires_in`` as a string ("300"), not a number."""
    return {**body, "expires_in": str(body.get("expires_in", 300))}


def is_token_endpoint(request: web.Request) -> bool:
    return request.path == TOKEN_PATH


def _claims_unverified(token: str) -> dict | None:
    """The claims of a JWT, read without looking at its signature or algorithm."""
    try:
        claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    except (ValueError, IndexError):
        return None
    return claims if isinstance(claims, dict) else None


def accepting_tokens(trusted):
    """A middleware that swaps every Bearer token the signer refuses but ``trusted(token, claims)``
    accepts for a genuine one carrying the same subject and access (how a registry with that flaw behaves)."""

    @web.middleware
    async def middleware(request: web.Request, handler):
        token = bearer_token(request)
        if token:
            settings = request.app[AUTH_KEY]
            try:
                settings.signer.verify(token)
            except InvalidToken:
                claims = _claims_unverified(token)
                if trusted(token, claims):
                    access = [parse_claim(a) for a in (claims or {}).get("access") or []]
                    genuine, _ = settings.signer.issue(str((claims or {}).get("sub") or ""),
                                                       [a for a in access if a is not None], settings.token_ttl)
                    request = request.clone(headers={**request.headers, "Authorization": f"Bearer {genuine}"})
        return await handler(request)

    return middleware


def parse_claim(entry: object):
    try:
        return Access(str(entry["type"]), str(entry["name"]), frozenset(str(a) for a in entry["actions"]))
    except (KeyError, TypeError):
        return None


def _alg_none(token: str, claims: dict | None) -> bool:
    try:
        header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    except (ValueError, IndexError):
        return False
    return isinstance(header, dict) and str(header.get("alg", "")).lower() == "none" and claims is not None


class KnownUserIsEnough:
    """A password checker that accepts any password of a user the policy knows."""

    def __init__(self, real, users) -> None:
        self.real, self.users = real, users

    async def verify(self, remote, user: str, password: str) -> bool:
        return user in self.users

    def __getattr__(self, name: str):
        return getattr(self.real, name)


@web.middleware
async def oauth_wrong_password_gets_token(request: web.Request, handler):
    """The OAuth2 password grant checks that the user exists, not the password."""
    if request.path == TOKEN_PATH and request.method == "POST":
        settings = request.app[AUTH_KEY]
        real = settings.passwords
        settings.passwords = KnownUserIsEnough(real, settings.policy.users)
        try:
            return await handler(request)
        finally:
            settings.passwords = real
    return await handler(request)


def unusable_refresh_token(request: web.Request, body: dict) -> dict:
    """Refresh tokens are handed out that the token endpoint will never honour."""
    return {**body, "refresh_token": "rt-" + body["refresh_token"][::-1]} if "refresh_token" in body else body


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
    Variant(
        name="challenge-params-unquoted",
        description='Bearer challenges send service=reference-registry as a bare token, not a quoted-string',
        select="test_auth and test_challenge_params_quoted",
        must_fail=("test_challenge_params_quoted",),
        middleware=rewrite(is_registry, challenge_param(unquote_service)),
        server_args=TOKEN_MODE,
        strict=True,
    ),
    Variant(
        name="challenge-without-service",
        description="Bearer challenges name realm and scope but no service",
        select="test_auth and test_bearer_challenge_names_service",
        must_fail=("test_bearer_challenge_names_service",),
        middleware=rewrite(is_registry, challenge_param(without_param("service"))),
        server_args=TOKEN_MODE,
        strict=True,
    ),
    Variant(
        name="challenge-without-scope",
        description="Bearer challenges on repository endpoints name no scope",
        select="test_auth and test_bearer_challenge_scope",
        must_fail=("test_bearer_challenge_scope",),
        middleware=rewrite(is_registry, challenge_param(without_param("scope"))),
        server_args=TOKEN_MODE,
        strict=True,
    ),
    Variant(
        name="token-lives-30-seconds",
        description="the token service issues tokens that live 30 s (expires_in 30, below the 60 s clients assume)",
        select="test_auth and test_token_expires_in",
        must_fail=("test_token_expires_in",),
        middleware=rewrite(lambda request: request.path == TOKEN_PATH, edit_token_answer(thirty_second_tokens)),
        server_args=TOKEN_MODE,
        strict=True,
    ),
    Variant(
        name="token-issued-at-not-rfc3339",
        description='issued_at is written like "2024-05-01 12:00:00.123456": no "T", no time zone',
        select="test_auth and test_token_issued_at",
        must_fail=("test_token_issued_at",),
        middleware=rewrite(lambda request: request.path == TOKEN_PATH, edit_token_answer(issued_at_without_zone)),
        server_args=TOKEN_MODE,
    ),
    Variant(
        name="wrong-password-gets-anonymous-token",
        description="the token endpoint answers a wrong password with an anonymous token instead of 401",
        select="test_auth and test_wrong_password_refused",
        must_fail=("test_wrong_password_refused",),
        middleware=wrong_password_is_anonymous,
        server_args=TOKEN_MODE,
    ),
    Variant(
        name="token-grants-beyond-policy",
        description="the token service grants a signed-in account every scope it asks for, whatever the policy",
        select="test_auth and test_forbidden_repository",
        must_fail=("test_forbidden_repository",),
        middleware=rewrite(lambda request: request.path == TOKEN_PATH, edit_token_answer(everything_asked_for)),
        server_args=POLICY_MODE,
        env=(*TEST_ACCOUNT, ("OCI_AUTH_FORBIDDEN_REPO", FORBIDDEN_REPO)),
    ),
    Variant(
        name="single-use-tokens",
        description="a token is refused (401 invalid_token) the second time it is presented",
        select="test_auth and test_token_reuse",
        must_fail=("test_token_reuse",),
        middleware=single_use_tokens(),
        server_args=TOKEN_MODE,
    ),
    Variant(
        name="tokens-never-expire",
        description="the registry checks a token's signature but not its expiry: 2-second tokens work forever",
        select="test_auth and test_token_expiry",
        must_fail=("test_token_expiry",),
        middleware=tokens_never_expire,
        server_args=(*TOKEN_MODE, "--token-ttl", "2"),
    ),
    Variant(
        name="anonymous-pull-reserialized",
        description="anonymous manifest pulls are served re-serialized JSON, not the pushed bytes",
        select="test_auth and test_anonymous_pull",
        must_fail=("test_anonymous_pull",),
        middleware=anonymous_pulls_reserialized,
        server_args=POLICY_MODE,
        env=TEST_ACCOUNT,
    ),
    Variant(
        name="challenge-realm-unquoted",
        description="Bearer challenges send the realm as a bare token (realm=http://…), not a quoted-string",
        select="test_auth and test_challenge_scheme_and_realm",
        must_fail=("test_challenge_scheme_and_realm",),
        middleware=rewrite(is_registry, challenge_param(realm_unquoted)),
        server_args=TOKEN_MODE,
    ),
    Variant(
        name="challenge-realm-garbled",
        description="the realm's closing quote is lost, so the realm swallows the service parameter",
        select="test_auth and test_challenge_scheme_and_realm",
        must_fail=("test_challenge_scheme_and_realm",),
        middleware=rewrite(is_registry, challenge_param(realm_garbled)),
        server_args=TOKEN_MODE,
    ),
    Variant(
        name="token-endpoint-401-without-challenge",
        description="the token endpoint answers a wrong password with 401 but no WWW-Authenticate",
        select="test_auth and test_token_endpoint_401_carries_challenge",
        must_fail=("test_token_endpoint_401_carries_challenge",),
        middleware=rewrite(is_token_endpoint, drop_challenge),
        server_args=TOKEN_MODE,
    ),
    Variant(
        name="challenge-names-another-service",
        description="challenges name service \"another-service\", which the token endpoint refuses (400)",
        select="test_auth and test_token_endpoint_accepts_challenge_service",
        must_fail=("test_token_endpoint_accepts_challenge_service",),
        middleware=rewrite(is_registry, challenge_param(service_renamed)),
        server_args=TOKEN_MODE,
    ),
    Variant(
        name="expires-in-not-a-number",
        description='the token response gives expires_in as the string "300"',
        select="test_auth and test_token_lifetime_is_number",
        must_fail=("test_token_lifetime_is_number",),
        middleware=rewrite(is_token_endpoint, edit_token_answer(expires_in_text)),
        server_args=TOKEN_MODE,
    ),
    Variant(
        name="any-bearer-token-accepted",
        description="any Bearer value is accepted: one that fails verification counts as an anonymous token",
        select="test_auth and test_forged_token_refused",
        must_fail=("test_forged_token_refused[random]", "test_forged_token_refused[alg-none]",
                   "test_forged_token_refused[other-key]", "test_forged_token_refused[claims-edited]"),
        middleware=accepting_tokens(lambda token, claims: True),
        server_args=TOKEN_MODE,
    ),
    Variant(
        name="signature-not-checked",
        description="a JWT's claims are trusted without checking its signature (edited or foreign tokens pass)",
        select="test_auth and test_forged_token_refused",
        must_fail=("test_forged_token_refused[alg-none]", "test_forged_token_refused[other-key]",
                   "test_forged_token_refused[claims-edited]"),
        middleware=accepting_tokens(lambda token, claims: claims is not None),
        server_args=TOKEN_MODE,
    ),
    Variant(
        name="alg-none-accepted",
        description='tokens whose header says "alg": "none" are trusted unsigned',
        select="test_auth and test_forged_token_refused",
        must_fail=("test_forged_token_refused[alg-none]",),
        middleware=accepting_tokens(_alg_none),
        server_args=TOKEN_MODE,
    ),
    Variant(
        name="oauth2-wrong-password-gets-token",
        description="the OAuth2 password grant issues a token for any password of a known user",
        select="test_auth and test_oauth2",
        must_fail=("test_oauth2_wrong_password_refused",),
        middleware=oauth_wrong_password_gets_token,
        server_args=POLICY_MODE,
        env=TEST_ACCOUNT,
    ),
    Variant(
        name="oauth2-refresh-token-refused",
        description="the OAuth2 password grant hands out refresh tokens the refresh grant never honours",
        select="test_auth and test_oauth2",
        must_fail=("test_oauth2_refresh_token",),
        middleware=rewrite(lambda request: request.path == TOKEN_PATH and request.method == "POST",
                           edit_token_answer(unusable_refresh_token)),
        server_args=POLICY_MODE,
        env=TEST_ACCOUNT,
    ),
    Variant(
        name="oauth2-access-token-unusable",
        description="the OAuth2 password grant answers 200 with an access_token the registry does not accept",
        select="test_auth and test_oauth2",
        must_fail=("test_oauth2_password_grant",),
        middleware=rewrite(lambda request: request.path == TOKEN_PATH and request.method == "POST",
                           edit_token_answer(lambda request, body: {**body, "access_token": "not-a-token"})),
        server_args=POLICY_MODE,
        env=TEST_ACCOUNT,
    ),
]
