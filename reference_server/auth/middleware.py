"""The registry side of auth: an aiohttp middleware guarding every ``/v2`` path.

htpasswd mode answers 401 with a Basic challenge until valid credentials come. Token mode answers
401 with a Bearer challenge naming the realm, service and the scopes the request needs; a token
lacking them gets 401 ``error="insufficient_scope"`` when the account could obtain them, and
403 DENIED when the access policy never allows that account the action.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Middleware

from reference_server import errors
from reference_server.auth.challenges import basic_challenge, basic_credentials, bearer_challenge
from reference_server.auth.endpoint import make_handlers
from reference_server.auth.passwords import TooManyAttempts
from reference_server.auth.scopes import PULL, Access, Need, covers, needed_access
from reference_server.auth.settings import TOKEN_PATH, AuthSettings
from reference_server.auth.tokens import InvalidToken
from reference_server.context import CAN_LIST_KEY, CAN_READ_KEY
from reference_server.routes import routed_path

SUBJECT_KEY = web.RequestKey("auth_subject", str)


def _access_detail(scopes: list[Access]) -> list[dict[str, str]]:
    return [{"Type": a.type, "Name": a.name, "Action": ",".join(sorted(a.actions))} for a in scopes]


def _unauthorized(challenge: str, scopes: list[Access] = ()) -> web.Response:
    error = errors.unauthorized(_access_detail(list(scopes)), headers={"WWW-Authenticate": challenge})
    return error.to_response()


def build_middleware(settings: AuthSettings) -> Middleware:
    """The auth middleware for ``settings`` (htpasswd or token mode); in token mode it also
    serves the token endpoint, so the endpoint does not depend on the app's routing."""
    get_token, post_token = make_handlers(settings)

    @web.middleware
    async def auth_middleware(request: web.Request, handler):
        path = request.path
        if path == TOKEN_PATH and settings.mode == "token":
            if request.method in ("GET", "HEAD"):
                return await get_token(request)
            if request.method == "POST":
                return await post_token(request)
            return errors.unsupported({"method": request.method}, headers={"Allow": "GET, POST"}).to_response()
        if path != "/v2" and not path.startswith("/v2/"):
            return await handler(request)
        if settings.mode == "htpasswd":
            return await _basic(settings, request, handler)
        return await _bearer(settings, request, handler)

    return auth_middleware


async def _basic(settings: AuthSettings, request: web.Request, handler):
    credentials = basic_credentials(request)
    if credentials is None:
        return _unauthorized(basic_challenge(settings))
    try:
        ok = await settings.passwords.verify(request.remote, *credentials)
    except TooManyAttempts as exc:
        return errors.too_many_requests(exc.retry_after).to_response()
    if not ok:
        return _unauthorized(basic_challenge(settings))
    request[SUBJECT_KEY] = credentials[0]
    return await handler(request)


async def _bearer(settings: AuthSettings, request: web.Request, handler):
    need: Need = needed_access(request.method, routed_path(request) or request.path, dict(request.query))
    challenged = list(need.required) + ([need.mount_source] if need.mount_source else [])
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _unauthorized(bearer_challenge(settings, request, challenged), challenged)
    try:
        claims = settings.signer.verify(token.strip())
    except InvalidToken:
        return _unauthorized(bearer_challenge(settings, request, challenged, "invalid_token"), challenged)
    policy = settings.policy
    missing = [a for a in need.required if not claims.grants(a)]
    if need.mount_source and not claims.grants(need.mount_source):
        # A mount source the account may read but the token does not cover: ask for a better token.
        # One it may never read: the mount is simply not done (the upload handler falls back).
        if policy.grant(claims.subject, need.mount_source) is not None:
            missing.append(need.mount_source)
    if missing:
        forbidden = [a for a in missing if not covers(policy.allowed(claims.subject, a.type, a.name), a.actions)]
        if claims.subject and forbidden:
            return errors.denied(_access_detail(forbidden)).to_response()
        return _unauthorized(bearer_challenge(settings, request, challenged, "insufficient_scope"), missing)
    request[SUBJECT_KEY] = claims.subject
    request[CAN_READ_KEY] = lambda repo: claims.grants(Access("repository", repo, frozenset({PULL})))
    # _catalog lists what the account may pull under the policy, not what this token happens to cover.
    request[CAN_LIST_KEY] = lambda repo: covers(policy.allowed(claims.subject, "repository", repo), frozenset({PULL}))
    return await handler(request)
