"""Auth checks: challenges, the token exchange, scopes, refusals, token reuse and expiry.

They run when the registry challenges (a 401 on ``/v2/``, a repository read or an upload
start, asked without credentials) and are skipped otherwise ("registry does not require
authentication"). Bearer-only checks are skipped against Basic registries. Optional settings:
``OCI_AUTH_FORBIDDEN_REPO``, a repository the configured account may not push to (for the
403 DENIED check), and ``OCI_AUTH_EXPIRY_WAIT``, how long the expiry check may wait (default 10 s);
tokens that outlive it leave expiry reported as "unchecked", never as a quiet skip.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime

import pytest
import requests

from conformance.fixtures import repository_name
from conformance.rules import DISABLED_PREFIX, NO_AUTH, rule, should, unchecked, unsupported
from registry_harness.auth import Challenge, TokenResponse, basic_header, parse_challenges, repository_scope
from registry_harness.client import RegistryClient
from registry_harness.target import Target

BASIC_ONLY = "registry uses Basic authentication, not tokens"
DEFAULT_EXPIRY_WAIT = 10.0
MIN_TOKEN_LIFETIME = 60
DEFAULT_TOKEN_LIFETIME = 60
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
    return client.sibling(username="", password="")


def _with_password(client: RegistryClient, username: str, password: str) -> RegistryClient:
    return client.sibling(username=username, password=password)


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
        problems = challenge_syntax_problems(header)
        assert not problems, f"{what}: WWW-Authenticate {header!r} is malformed: {'; '.join(problems)}"
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


_SCHEME_RE = re.compile(r"([A-Za-z0-9!#$%&'*+.^_`|~-]+)(?:[ ]+|$|(?=,))")
_PARAM_START_RE = re.compile(r"([A-Za-z0-9!#$%&'*+.^_`|~-]+)[ \t]*=[ \t]*")
_QUOTED_RE = re.compile(r'"((?:[^"\\]|\\.)*)"')
_TOKEN_RE = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")


def challenge_syntax_problems(header: str) -> list[str]:
    """What keeps ``header`` from being a list of RFC 7235 challenges whose realm is a quoted-string.

    Read strictly (a client's lenient parser guesses where a garbled value ends; a registry author
    needs to know it is garbled): ``scheme [param=value *("," param=value)]`` with each value a token
    or a quoted-string, and the realm a quoted-string (RFC 7235 §2.2: senders MUST quote it).
    """
    problems: list[str] = []
    text = header.strip()
    expect_scheme = True
    while text:
        if expect_scheme:
            scheme = _SCHEME_RE.match(text)
            if scheme is None:
                return [*problems, f"no auth-scheme at {text[:40]!r}"]
            text = text[scheme.end():]
            expect_scheme = False
            if not text or not _PARAM_START_RE.match(text):
                text = text.lstrip(" \t,")  # a scheme without parameters, then the next challenge
                expect_scheme = bool(text)
                continue
        param = _PARAM_START_RE.match(text)
        if param is None:
            return [*problems, f"not an auth-param at {text[:40]!r}"]
        name = param.group(1).lower()
        rest = text[param.end():]
        quoted = _QUOTED_RE.match(rest)
        value = quoted or _TOKEN_RE.match(rest)
        if value is None:
            return [*problems, f"{name}: no value (token or quoted-string) at {rest[:40]!r}"]
        if name == "realm" and quoted is None:
            problems.append(f"realm {value.group(0)!r} is not a quoted-string")
        text = rest[value.end():].lstrip(" \t")
        if not text:
            break
        if not text.startswith(","):
            return [*problems, f"after {name}: expected \",\" at {text[:40]!r}"]
        text = text[1:].lstrip(" \t,")
        if text and not _PARAM_START_RE.match(text):
            expect_scheme = True  # the next challenge of a list
    return problems


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
    if not isinstance(value, int | float) or isinstance(value, bool):
        return  # not a number: a failure of test_token_lifetime_is_number
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


@rule("auth-1", "MUST", "auth",
      "the token endpoint's own 401 (to a wrong password) carries a usable WWW-Authenticate challenge")
def test_token_endpoint_401_carries_challenge(client: RegistryClient, bearer: Challenge, auth: AuthProbe) -> None:
    username = client.username or f"conformance-nobody-{secrets.token_hex(4)}"
    wrong = f"wrong-{secrets.token_urlsafe(12)}"
    result = client.token_for(repository_scope(auth.repo, "pull"), bearer, username=username, password=wrong)
    if result.status != 401:
        unsupported(f"the token endpoint answers a wrong password with {result.status}, not 401")
    response = client.last_token_http
    header = response.headers.get("WWW-Authenticate") if response is not None else None
    assert header, f"token endpoint {bearer.realm} answered 401 without WWW-Authenticate (RFC 7235 requires one)"
    problems = challenge_syntax_problems(header)
    assert not problems, f"token endpoint's challenge {header!r} is malformed: {'; '.join(problems)}"
    usable = [c for c in parse_challenges(header) if c.scheme in ("basic", "bearer") and c.realm]
    assert usable, f"token endpoint's challenge {header!r} offers no Basic or Bearer scheme with a realm"


@rule("auth-4", "MUST", "auth", "the token endpoint accepts the service the challenge names, and its token opens the "
      "registry")
def test_token_endpoint_accepts_challenge_service(client: RegistryClient, bearer: Challenge, auth: AuthProbe) -> None:
    service = bearer.params.get("service")
    if not service:
        unsupported("the Bearer challenge names no service (reported by test_bearer_challenge_names_service)")
    result = client.token_for(repository_scope(auth.repo, "pull"), bearer)
    assert result.status == 200 and result.token is not None, (
        f"token endpoint {bearer.realm} answered {result.status} to service={service!r}, the service its own "
        f"challenge names: {json.dumps(result.body)[:300]}")
    method, path = _guarded(auth)
    response = _bearer_get(client, path, result.token.value, method)
    assert response.status_code not in (401, 403), client.explain(
        response, (200,), f"{method} {path} with the token issued for service {service!r}")


@rule("auth-4", "MUST", "auth", 'the token response\'s "expires_in", when present, is a number of seconds')
def test_token_lifetime_is_number(client: RegistryClient, bearer: Challenge, auth: AuthProbe) -> None:
    body = _token(client, bearer, repository_scope(auth.repo, "pull")).body
    if "expires_in" not in body:
        return  # optional: clients then assume 60 seconds
    value = body["expires_in"]
    assert isinstance(value, int | float) and not isinstance(value, bool) and value > 0, \
        f"expires_in {value!r} is not a positive number of seconds: clients cannot tell when to renew"


# -- tokens the registry never issued ------------------------------------------------------------

FORGERIES = ("random", "alg-none", "other-key", "claims-edited")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_parts(token: str) -> tuple[dict, dict] | None:
    """(header, claims) of a compact JWT, or None when the token is opaque."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        header, claims = json.loads(_unb64url(parts[0])), json.loads(_unb64url(parts[1]))
    except ValueError:
        return None
    return (header, claims) if isinstance(header, dict) and isinstance(claims, dict) else None


def _sign_with_another_key(alg: str, signing_input: bytes) -> bytes:
    """A signature of ``signing_input`` by the token's algorithm, made with a key nobody else holds."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

    digests = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
    size = alg[-3:]
    if alg.startswith("HS") and size in digests:
        return hmac.new(secrets.token_bytes(32), signing_input, getattr(hashlib, f"sha{size}")).digest()
    if alg[:2] in ("RS", "PS") and size in digests:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pad = padding.PKCS1v15() if alg.startswith("RS") else padding.PSS(padding.MGF1(digests[size]()),
                                                                           padding.PSS.DIGEST_LENGTH)
        return key.sign(signing_input, pad, digests[size]())
    if alg.startswith("ES") and size in digests:
        curve = {"256": ec.SECP256R1, "384": ec.SECP384R1, "512": ec.SECP521R1}[size]()
        der = ec.generate_private_key(curve).sign(signing_input, ec.ECDSA(digests[size]()))
        r, s = utils.decode_dss_signature(der)
        length = (curve.key_size + 7) // 8
        return r.to_bytes(length, "big") + s.to_bytes(length, "big")
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate().sign(signing_input)
    return secrets.token_bytes(64)


def forge(kind: str, token: str) -> str | None:
    """A token the registry never issued, made from a genuine ``token`` (None: ``kind`` needs a JWT).

    ``random``: three random segments; ``alg-none``: the genuine claims, unsigned; ``other-key``:
    the genuine header and claims signed with a fresh key; ``claims-edited``: the genuine signature
    over claims that live a day longer and grant more.
    """
    if kind == "random":
        return ".".join(_b64url(secrets.token_bytes(n)) for n in (24, 96, 32))
    parsed = jwt_parts(token)
    if parsed is None:
        return None
    header, claims = parsed
    encoded_claims = token.split(".")[1]
    if kind == "alg-none":
        return f"{_b64url(json.dumps({**header, 'alg': 'none'}).encode())}.{encoded_claims}."
    if kind == "other-key":
        signing_input = token.rsplit(".", 1)[0]
        signature = _sign_with_another_key(str(header.get("alg", "")), signing_input.encode())
        return f"{signing_input}.{_b64url(signature)}"
    if kind == "claims-edited":
        edited = dict(claims)
        if isinstance(edited.get("exp"), int | float):
            edited["exp"] = edited["exp"] + 86400
        access = edited.get("access") if isinstance(edited.get("access"), list) else []
        edited["access"] = [*access, {"type": "repository", "name": "conformance-forged/everything",
                                      "actions": ["pull", "push", "delete"]}]
        head, _, signature = token.split(".")
        return f"{head}.{_b64url(json.dumps(edited, separators=(',', ':')).encode())}.{signature}"
    raise ValueError(f"unknown forgery {kind!r}")


def _guarded(auth: AuthProbe) -> tuple[str, str]:
    """A read the registry refused without credentials: ``GET /v2/``, else the repository's tags list."""
    what = [w for w, _ in auth.responses]
    if "GET /v2/" in what:
        return "GET", "/v2/"
    return "GET", f"/v2/{auth.repo}/tags/list"


@pytest.mark.parametrize("kind", FORGERIES)
@rule("auth-10", "MUST", "auth",
      "a token the registry never issued (random, alg none, signed with another key, claims edited) is refused "
      "with 401 and a usable challenge")
def test_forged_token_refused(client: RegistryClient, bearer: Challenge, auth: AuthProbe, kind: str) -> None:
    genuine = _token(client, bearer, repository_scope(auth.repo, "pull")).token.value
    forged = forge(kind, genuine)
    if forged is None:
        unsupported("the registry's tokens are opaque, not JWTs: only a random token can be forged")
    method, path = _guarded(auth)
    accepted = _bearer_get(client, path, genuine, method)
    assert accepted.status_code not in (401, 403), client.explain(
        accepted, (200,), f"{method} {path} with a genuine token (the baseline the forgery is compared with)")
    response = _bearer_get(client, path, forged, method)
    assert response.status_code == 401, client.explain(
        response, (401,), f"{method} {path} with a {kind} token the registry never issued")
    header = response.headers.get("WWW-Authenticate") or ""
    challenge = next((c for c in parse_challenges(header) if c.scheme == "bearer"), None)
    assert challenge is not None and challenge.realm, \
        f"401 to a {kind} token carries no Bearer challenge with a realm ({header!r}): the client cannot renew"


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
    lifetime = result.body.get("expires_in", DEFAULT_TOKEN_LIFETIME)  # absent: the 60 s the token spec assumes
    limit = float(os.environ.get("OCI_AUTH_EXPIRY_WAIT") or DEFAULT_EXPIRY_WAIT)
    if not isinstance(lifetime, int | float) or isinstance(lifetime, bool):
        unchecked(f"expiry not observed: the token response gives no numeric expires_in ({lifetime!r}), so "
                  "there is no lifetime to wait out")
    if lifetime + 1 > limit:
        unchecked(f"expiry not observed: tokens live {lifetime:g} s, longer than this run may wait ({limit:g} s); "
                  f"set OCI_AUTH_EXPIRY_WAIT={int(lifetime) + 2} (or shorten the registry's token lifetime) "
                  "to check that expired tokens are refused")
    path = f"/v2/{auth.repo}/tags/list"
    before = _bearer_get(client, path, result.token.value)
    assert before.status_code not in (401, 403), client.explain(before, (200, 404), "tags list with a fresh token")
    time.sleep(lifetime + 1)
    after = _bearer_get(client, path, result.token.value)
    assert after.status_code == 401, client.explain(after, (401,), f"tags list {lifetime + 1} s after issue")
    renewed = _token(client, bearer, repository_scope(auth.repo, "pull"))
    again = _bearer_get(client, path, renewed.token.value)
    assert again.status_code not in (401, 403), client.explain(again, (200, 404), "tags list with a renewed token")


# -- OAuth2 token requests (docker login) --------------------------------------------------------

def _oauth(client: RegistryClient, bearer: Challenge, auth: AuthProbe, **kw: str) -> TokenResponse:
    """An OAuth2 POST password grant; unsupported when the endpoint does not take it (GET only)."""
    if not client.username:
        unsupported("no credentials configured (OCI_USERNAME/OCI_PASSWORD): an OAuth2 password grant needs them")
    result = client.token_for(repository_scope(auth.repo, "pull"), bearer, oauth=True, **kw)
    raw = client.last_token_http
    if raw is None or raw.request.method != "POST":
        unsupported("the token endpoint answers OAuth2 POST with 404 or 405: it serves the GET flow only")
    if result.status == 400 and result.body.get("error") == "unsupported_grant_type":
        unsupported("the token endpoint does not take the OAuth2 password grant (unsupported_grant_type)")
    return result


def _opens_registry(client: RegistryClient, auth: AuthProbe, token: str, what: str) -> None:
    method, path = _guarded(auth)
    response = _bearer_get(client, path, token, method)
    assert response.status_code not in (401, 403), client.explain(response, (200,), f"{method} {path} with {what}")


@rule("auth-11", "MAY", "auth",
      "the token endpoint answers an OAuth2 POST grant_type=password (as docker login sends) with a working "
      "access_token")
def test_oauth2_password_grant(client: RegistryClient, bearer: Challenge, auth: AuthProbe) -> None:
    result = _oauth(client, bearer, auth)
    assert result.status == 200, f"OAuth2 password grant answered {result.status}: {json.dumps(result.body)[:300]}"
    value = result.body.get("access_token")
    assert isinstance(value, str) and value, \
        f'OAuth2 token response without "access_token" (RFC 6749 §5.1): {sorted(result.body)}'
    _opens_registry(client, auth, value, "the OAuth2 access_token")


@rule("auth-11", "MUST", "auth",
      "an OAuth2 password grant with a wrong password is refused (400 or 401), never answered with a token")
def test_oauth2_wrong_password_refused(client: RegistryClient, bearer: Challenge, auth: AuthProbe) -> None:
    result = _oauth(client, bearer, auth, password=f"wrong-{secrets.token_urlsafe(12)}")
    assert result.token is None and result.status in (400, 401), (
        f"OAuth2 password grant with a wrong password answered {result.status}"
        + (" with a token" if result.token is not None else "") + "; expected 400/401 invalid_grant")


@rule("auth-11", "MAY", "auth",
      "the refresh_token of an offline password grant (Docker's identity token) buys a working access token by "
      "grant_type=refresh_token; an edited one buys nothing")
def test_oauth2_refresh_token(client: RegistryClient, bearer: Challenge, auth: AuthProbe) -> None:
    issued = _oauth(client, bearer, auth)
    refresh = issued.body.get("refresh_token")
    if not refresh:
        unsupported("the OAuth2 password grant returns no refresh_token (no identity tokens)")
    scope = repository_scope(auth.repo, "pull")
    renewed = client.token_for(scope, bearer, username="", identity_token=refresh)
    assert renewed.token is not None, (
        f"grant_type=refresh_token with the refresh_token just issued answered {renewed.status} without a token: "
        f"{json.dumps(renewed.body)[:300]}")
    _opens_registry(client, auth, renewed.token.value, "the token bought with the refresh token")
    edited = refresh[:-4] + ("AAAA" if not refresh.endswith("AAAA") else "BBBB")
    refused = client.token_for(scope, bearer, username="", identity_token=edited)
    assert refused.token is None, f"an edited refresh token bought a token ({refused.status})"


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
