"""Auth checks: challenges, the token exchange, scopes, refusals, token reuse and expiry.

They run when the registry challenges (a 401 on ``/v2/``, a repository read or an upload
start, asked without credentials) and are skipped otherwise ("registry does not require
authentication"). Bearer-only checks are skipped against Basic registries. Optional settings:
``OCI_AUTH_FORBIDDEN_REPO``, a repository the configured account may not push to (for the
403 DENIED check), and ``OCI_AUTH_EXPIRY_WAIT``, how long the expiry check may wait (default 10 s).
"""

from __future__ import annotations

import os
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime

import pytest
import requests

from conformance.fixtures import repository_name
from conformance.rules import DISABLED_PREFIX, NO_AUTH, rule, should, unsupported
from registry_harness.auth import Challenge, TokenResponse, basic_header, parse_challenges, repository_scope
from registry_harness.client import RegistryClient
from registry_harness.target import Target

BASIC_ONLY = "registry uses Basic authentication, not tokens"
DEFAULT_EXPIRY_WAIT = 10.0
MIN_TOKEN_LIFETIME = 60
_RFC3339_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)
# One auth-param whose value is a quoted-string, and one whose value is a bare token.
_QUOTED_PARAM_RE = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')
_BARE_PARAM_RE = re.compile(r"\s*([A-Za-z0-9_.-]+)\s*=\s*([^\s,\"]+)\s*(,|$)")


@dataclass
class AuthProbe:
    """What the registry answered to unauthenticated requests: the first 401s and their challenges."""

    responses: list[tuple[str, requests.Response]] = field(default_factory=list)  # (what, 401 response)
    repo: str = ""

    @property
    def required(self) -> bool:
        return bool(self.responses)

    @property
    def challenges(self) -> list[Challenge]:
        return parse_challenges(self.responses[0][1].headers.get("WWW-Authenticate")) if self.responses else []

    @property
    def bearer(self) -> Challenge | None:
        return next((c for c in self.challenges if c.scheme == "bearer"), None)

    @property
    def basic(self) -> Challenge | None:
        return next((c for c in self.challenges if c.scheme == "basic"), None)


def _anonymous(client: RegistryClient) -> RegistryClient:
    """A client for the same target without credentials, recording into the same check."""
    return RegistryClient(client.target, recorder=client.recorder, username="", password="")


def _with_password(client: RegistryClient, username: str, password: str) -> RegistryClient:
    return RegistryClient(client.target, recorder=client.recorder, username=username, password=password)


@pytest.fixture(scope="module")
def probe(client: RegistryClient, settings, target: Target) -> AuthProbe:
    """Ask ``/v2/``, a repository read and an upload start without credentials; keep every 401."""
    repo = target.repo1 or repository_name(settings.run_id, "checks/test_auth.py::probe")
    result = AuthProbe(repo=repo)
    ping = client.ping(authenticate=False)
    if ping.status_code == 401:
        result.responses.append(("GET /v2/", ping))
    tags = client.tags_list(repo, authenticate=False)
    if tags.status_code == 401:
        result.responses.append((f"GET /v2/{repo}/tags/list", tags))
    upload = client.start_upload(repo, authenticate=False)
    if upload.status_code == 401:
        result.responses.append((f"POST /v2/{repo}/blobs/uploads/", upload))
    elif upload.status_code == 202 and upload.headers.get("Location"):
        client.request("DELETE", client.location(upload), authenticate=False)  # anonymous push allowed: cancel
    return result


@pytest.fixture
def auth(probe: AuthProbe) -> AuthProbe:
    """The probe, or a skip when nothing asked for credentials."""
    if not probe.required:
        unsupported(NO_AUTH)
    return probe


@pytest.fixture
def bearer(auth: AuthProbe) -> Challenge:
    """The registry's Bearer challenge (skip against Basic-only registries)."""
    if auth.bearer is None:
        unsupported(BASIC_ONLY)
    return auth.bearer


def _token(client: RegistryClient, challenge: Challenge, scope: str | None, **kw: str) -> TokenResponse:
    """A token for ``scope`` with the client's credentials; a failing token endpoint fails the check."""
    result = client.token_for(scope, challenge, **kw)
    assert result.token is not None, (
        f"token endpoint {challenge.realm} answered {result.status} without a usable token for scope "
        f"{scope!r}: {sorted(result.body)}"
        + ("" if client.username else " (no credentials configured: set OCI_USERNAME/OCI_PASSWORD)")
    )
    return result


def _bearer_get(client: RegistryClient, path: str, token: str, method: str = "GET") -> requests.Response:
    return client.request(method, path, headers={"Authorization": f"Bearer {token}"}, authenticate=False)


def _can_push(client: RegistryClient, repo: str) -> bool:
    """Whether the configured account may start an upload in ``repo`` (the session is cancelled)."""
    response = client.start_upload(repo)
    if response.status_code == 202 and response.headers.get("Location"):
        client.request("DELETE", client.location(response))
        return True
    return response.status_code in (201, 202)


def _upload_with_pull_only_token(client: RegistryClient, bearer: Challenge, auth: AuthProbe) -> requests.Response:
    """The answer to an upload start in the probe repository with a token asked only for pull (an account
    that cannot push at all ends the check as unsupported; an opened session is cancelled)."""
    if not _can_push(client, auth.repo):
        unsupported(f"the configured account cannot push to {auth.repo}")
    token = _token(client, bearer, repository_scope(auth.repo, "pull")).token
    response = _bearer_get(client, f"/v2/{auth.repo}/blobs/uploads/", token.value, "POST")
    if response.status_code == 202 and response.headers.get("Location"):
        client.request("DELETE", client.location(response))
    return response


# -- challenges ----------------------------------------------------------------------------------

@rule("auth-1", "MUST", "auth", "every 401 answer carries a WWW-Authenticate challenge (RFC 7235)")
def test_401_carries_www_authenticate(auth: AuthProbe) -> None:
    for what, response in auth.responses:
        assert response.headers.get("WWW-Authenticate"), \
            f"{what} answered 401 without WWW-Authenticate: a client cannot tell how to authenticate"


@rule("auth-2", "MUST", "auth",
      "the challenge names the Basic or Bearer scheme with a realm (for Bearer an absolute http(s) token URL)")
def test_challenge_scheme_and_realm(auth: AuthProbe) -> None:
    for what, response in auth.responses:
        header = response.headers.get("WWW-Authenticate") or ""
        challenges = [c for c in parse_challenges(header) if c.scheme in ("basic", "bearer")]
        assert challenges, f"{what}: WWW-Authenticate {header!r} offers neither Basic nor Bearer"
        for challenge in challenges:
            assert challenge.realm, f"{what}: {challenge.scheme.title()} challenge without a realm: {header!r}"
            if challenge.scheme == "bearer":
                assert challenge.realm.startswith(("http://", "https://")), \
                    f"{what}: Bearer realm {challenge.realm!r} is not an absolute http(s) URL"


def unquoted_params(header: str) -> list[str]:
    """Names of auth-params in ``header`` whose values are bare tokens rather than quoted-strings."""
    bare = []
    text = header.strip()
    while text:
        scheme = re.match(r"([A-Za-z][A-Za-z0-9_-]*)\s+", text)
        if scheme:
            text = text[scheme.end():]
        quoted = _QUOTED_PARAM_RE.match(text)
        plain = None if quoted else _BARE_PARAM_RE.match(text)
        match = quoted or plain
        if match is None:
            break
        if plain:
            bare.append(plain.group(1))
        text = text[match.end():]
    return bare


@rule("auth-2", "SHOULD", "auth", "challenge parameters are quoted-strings, as Docker clients expect")
def test_challenge_params_quoted(auth: AuthProbe) -> None:
    for what, response in auth.responses:
        header = response.headers.get("WWW-Authenticate") or ""
        bare = unquoted_params(header)
        should(not bare, f"{what}: unquoted challenge parameter(s) {', '.join(bare)} in {header!r}")


@rule("auth-2", "SHOULD", "auth", 'a Bearer challenge names the "service" to ask the token for')
def test_bearer_challenge_names_service(bearer: Challenge, auth: AuthProbe) -> None:
    for what, response in auth.responses:
        challenge = next((c for c in parse_challenges(response.headers.get("WWW-Authenticate"))
                          if c.scheme == "bearer"), None)
        should(challenge is not None and challenge.params.get("service"),
               f"{what}: Bearer challenge has no service parameter")


@rule("auth-3", "SHOULD", "auth",
      'a Bearer challenge on a repository endpoint names the scope it needs ("repository:<name>:<actions>")')
def test_bearer_challenge_scope(bearer: Challenge, auth: AuthProbe) -> None:
    repo_answers = [(w, r) for w, r in auth.responses if w != "GET /v2/"]
    if not repo_answers:
        unsupported("no repository endpoint challenged unauthenticated requests (anonymous access allowed)")
    for what, response in repo_answers:
        challenge = next((c for c in parse_challenges(response.headers.get("WWW-Authenticate"))
                          if c.scheme == "bearer"), None)
        scope = (challenge.params.get("scope") if challenge else None) or ""
        if not should(scope, f"{what}: Bearer challenge without a scope parameter"):
            continue
        needed = "push" if what.startswith("POST") else "pull"
        names = {s.split(":")[1] for s in scope.split() if s.count(":") >= 2 and s.startswith("repository")}
        should(auth.repo in names, f"{what}: challenge scope {scope!r} does not name repository {auth.repo!r}")
        actions = {a for s in scope.split() for a in s.rsplit(":", 1)[-1].split(",")}
        should(needed in actions, f"{what}: challenge scope {scope!r} does not ask for {needed!r}")


# -- the token exchange --------------------------------------------------------------------------

@rule("auth-4", "MUST", "auth",
      'the token endpoint answers 200 with a non-empty "token" and/or "access_token" (equal when both are given)')
def test_token_response_fields(client: RegistryClient, bearer: Challenge, auth: AuthProbe) -> None:
    result = _token(client, bearer, repository_scope(auth.repo, "pull"))
    body = result.body
    for key in ("token", "access_token"):
        if key in body:
            assert isinstance(body[key], str) and body[key], f'token response field "{key}" is empty or not a string'
    if "token" in body and "access_token" in body:
        should(body["token"] == body["access_token"], '"token" and "access_token" differ; clients may pick either')


@rule("auth-4", "SHOULD", "auth",
      'the token response\'s "expires_in", when present, is at least 60 seconds (older clients assume 60)')
def test_token_expires_in(client: RegistryClient, bearer: Challenge, auth: AuthProbe) -> None:
    body = _token(client, bearer, repository_scope(auth.repo, "pull")).body
    if "expires_in" not in body:
        return  # optional: clients then assume 60 seconds
    value = body["expires_in"]
    assert isinstance(value, int | float) and not isinstance(value, bool), f"expires_in {value!r} is not a number"
    should(value >= MIN_TOKEN_LIFETIME, f"expires_in is {value} s, below the {MIN_TOKEN_LIFETIME} s clients assume")


@rule("auth-4", "MUST", "auth", 'the token response\'s "issued_at", when present, is an RFC 3339 time')
def test_token_issued_at(client: RegistryClient, bearer: Challenge, auth: AuthProbe) -> None:
    body = _token(client, bearer, repository_scope(auth.repo, "pull")).body
    if "issued_at" not in body:
        return
    value = body["issued_at"]
    assert isinstance(value, str) and _RFC3339_RE.match(value), f"issued_at {value!r} is not an RFC 3339 time"
    try:
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError as exc:
        raise AssertionError(f"issued_at {value!r} is not a valid time: {exc}") from None


@rule("auth-5", "MUST", "auth", "a wrong password is refused with 401, at the token endpoint or at the registry")
def test_wrong_password_refused(client: RegistryClient, auth: AuthProbe) -> None:
    username = client.username or f"conformance-nobody-{secrets.token_hex(4)}"
    wrong = f"wrong-{secrets.token_urlsafe(12)}"
    if auth.bearer is not None:
        result = client.token_for(repository_scope(auth.repo, "pull"), auth.bearer, username=username, password=wrong)
        if result.status == 401:
            return
        if result.token is None:
            assert result.status == 403, f"token endpoint answered {result.status} to a wrong password; expected 401"
            should(False, "token endpoint refused a wrong password with 403; 401 is expected")
            return
        # The token server handed out a token anyway: it must not authenticate anything.
        response = _bearer_get(client, "/v2/", result.token.value)
        assert response.status_code == 401, (
            f"token endpoint answered {result.status} to a wrong password and its token opened GET /v2/ "
            f"({response.status_code}); wrong credentials must be refused with 401"
        )
        return
    response = client.request("GET", "/v2/", headers={"Authorization": basic_header(username, wrong)},
                              authenticate=False)
    assert response.status_code == 401, client.explain(response, (401,), "GET /v2/ with a wrong password")
    assert response.headers.get("WWW-Authenticate"), "401 to a wrong password carries no WWW-Authenticate"


# -- scopes and refusals -------------------------------------------------------------------------

@rule("auth-6", "MUST", "auth", "a token granted only pull on a repository cannot push to it")
def test_pull_token_cannot_push(client: RegistryClient, bearer: Challenge, auth: AuthProbe) -> None:
    response = _upload_with_pull_only_token(client, bearer, auth)
    assert response.status_code in (401, 403), client.explain(
        response, (401,), "upload start with a token that was asked (and should be granted) only pull")


@rule("auth-6", "MUST", "auth",
      'missing scope is 401 with a Bearer challenge (error="insufficient_scope" naming the needed scope)')
def test_insufficient_scope_challenge(client: RegistryClient, bearer: Challenge, auth: AuthProbe) -> None:
    response = _upload_with_pull_only_token(client, bearer, auth)
    assert response.status_code == 401, client.explain(
        response, (401,), "push with a pull-only token (clients renew their token only on 401)")
    challenge = next((c for c in parse_challenges(response.headers.get("WWW-Authenticate"))
                      if c.scheme == "bearer"), None)
    assert challenge is not None, "401 for a missing scope without a Bearer challenge: the client cannot upgrade"
    should(challenge.params.get("error") == "insufficient_scope",
           f'challenge error is {challenge.params.get("error")!r}, expected "insufficient_scope"')
    should("push" in (challenge.params.get("scope") or ""),
           f"challenge scope {challenge.params.get('scope')!r} does not name the push it needs")


@rule("auth-7", "MUST", "auth",
      "pushing to a repository the account may not use is refused: 403 DENIED (or 401), never accepted")
def test_forbidden_repository(client: RegistryClient, auth: AuthProbe) -> None:
    forbidden = os.environ.get("OCI_AUTH_FORBIDDEN_REPO")
    if not forbidden:
        pytest.skip(DISABLED_PREFIX + "set OCI_AUTH_FORBIDDEN_REPO to a repository the account may not push to")
    response = client.start_upload(forbidden)
    if response.status_code == 202 and response.headers.get("Location"):
        client.request("DELETE", client.location(response))
    assert response.status_code in (401, 403), client.explain(response, (403, 401), "upload to a forbidden repository")
    if response.status_code == 403 and "json" in response.headers.get("Content-Type", ""):
        codes = [e.get("code") for e in (response.json().get("errors") or []) if isinstance(e, dict)]
        assert "DENIED" in codes, f"403 with error codes {codes}, expected DENIED"


# -- token lifetime ------------------------------------------------------------------------------

@rule("auth-8", "MUST", "auth", "a token (or Basic credential) is reusable: a second request with it succeeds")
def test_token_reuse(client: RegistryClient, auth: AuthProbe) -> None:
    if auth.bearer is None:
        if not client.username:
            unsupported("no credentials configured for a Basic registry")
        header = basic_header(client.username, client.password or "")
    else:
        header = f"Bearer {_token(client, auth.bearer, repository_scope(auth.repo, 'pull')).token.value}"
    path = f"/v2/{auth.repo}/tags/list"
    first = client.request("GET", path, headers={"Authorization": header}, authenticate=False)
    second = client.request("GET", path, headers={"Authorization": header}, authenticate=False)
    for number, response in (("first", first), ("second", second)):
        assert response.status_code not in (401, 403), client.explain(
            response, (200, 404), f"{number} tags list with the same credential")


@rule("auth-8", "MUST", "auth", "an expired token is refused with 401, and a renewed one is accepted")
def test_token_expiry(client: RegistryClient, bearer: Challenge, auth: AuthProbe) -> None:
    result = _token(client, bearer, repository_scope(auth.repo, "pull"))
    lifetime = result.body.get("expires_in")
    limit = float(os.environ.get("OCI_AUTH_EXPIRY_WAIT") or DEFAULT_EXPIRY_WAIT)
    if not isinstance(lifetime, int | float) or lifetime + 1 > limit:
        unsupported(f"token lifetime {lifetime!r} s is too long to watch it expire (limit {limit:g} s, "
                    "OCI_AUTH_EXPIRY_WAIT)")
    path = f"/v2/{auth.repo}/tags/list"
    before = _bearer_get(client, path, result.token.value)
    assert before.status_code not in (401, 403), client.explain(before, (200, 404), "tags list with a fresh token")
    time.sleep(lifetime + 1)
    after = _bearer_get(client, path, result.token.value)
    assert after.status_code == 401, client.explain(after, (401,), f"tags list {lifetime + 1} s after issue")
    renewed = _token(client, bearer, repository_scope(auth.repo, "pull"))
    again = _bearer_get(client, path, renewed.token.value)
    assert again.status_code not in (401, 403), client.explain(again, (200, 404), "tags list with a renewed token")


# -- anonymous access ----------------------------------------------------------------------------

@rule("auth-9", "MAY", "auth", "anonymous pull, where the registry allows it, serves the pushed content")
def test_anonymous_pull(client: RegistryClient, auth: AuthProbe, push_image, repo: str) -> None:
    image = push_image(tag="anonymous")
    anonymous = _anonymous(client)
    response = anonymous.get_manifest(repo, image.digest)
    if response.status_code in (401, 403):
        should(response.status_code == 401,
               "anonymous request refused with 403; 401 tells the client that logging in may help")
        unsupported("anonymous pull is not allowed")
    assert response.status_code == 200, anonymous.explain(response, (200, 401), "anonymous manifest GET")
    assert response.content == image.manifest, "anonymous pull served different manifest bytes than were pushed"
