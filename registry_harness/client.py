"""The registry HTTP client shared by the conformance suite and the load profiles.

One request helper (``RegistryClient.request``) does authentication, recording and the readable
status assertion; the protocol helpers above it (uploads, manifests, listings) are thin and
return the raw responses so checks can judge every header themselves.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import urlencode, urljoin, urlsplit

import requests

from registry_harness import paths, spec
from registry_harness.auth import (
    AuthError,
    Challenge,
    Token,
    TokenCache,
    TokenResponse,
    basic_header,
    fetch_token,
    parse_challenges,
    repository_scope,
)
from registry_harness.digests import digest_of
from registry_harness.exchange import BODY_PREVIEW, Exchange
from registry_harness.paths import Endpoint
from registry_harness.redact import mask_text, mask_url
from registry_harness.target import Target, quiet_if_insecure

DEFAULT_TIMEOUT = 10.0
RATE_LIMIT_RETRIES = 3
MAX_RETRY_WAIT = 10.0  # a Retry-After longer than this is not waited out: the 429 is returned
DEFAULT_RETRY_WAIT = 1.0
MAX_PAGES = 1_000
SCOPE_CACHE = 1024
# Every body the client reads is bounded by what the protocol needs; a larger answer ends the
# request with "answer exceeded N bytes" instead of filling memory.
MANIFEST_LIMIT = 4 * 1024 * 1024  # the size registries SHOULD accept (the harness pushes more to test it)
DOCUMENT_LIMIT = MANIFEST_LIMIT + 1024 * 1024  # JSON documents, manifests, error bodies: limit plus margin
LISTING_LIMIT = 16 * 1024 * 1024  # tags lists, _catalog and referrers pages
BLOB_HOLD_LIMIT = 64 * 1024 * 1024  # blobs larger than this are streamed and hashed, never held whole
READ_CHUNK = 64 * 1024
LISTINGS = frozenset({Endpoint.CATALOG, Endpoint.TAGS, Endpoint.REFERRERS})
UPLOAD_MODES = ("monolithic", "single", "streamed", "chunked")
DEFAULT_ACCEPT = ", ".join(spec.MANIFEST_MEDIA_TYPES[:4])
_LINK_RE = re.compile(r'<([^>]*)>\s*((?:;\s*[^;,]+)*)')

Recorder = Callable[[Exchange], None]


class RegistryError(RuntimeError):
    """The registry could not be reached or answered in a way the client cannot use."""


class AnswerTooLarge(RegistryError):
    """A body longer than the limit of its kind: the read stopped there."""


def body_limit_for(method: str, url: str) -> int:
    """The most bytes the client reads of an answer to ``method url`` (listings get more room)."""
    parsed = paths.parse(urlsplit(url).path)
    if parsed is not None and parsed.endpoint in LISTINGS:
        return LISTING_LIMIT
    if parsed is not None and parsed.endpoint is Endpoint.BLOB:
        return BLOB_HOLD_LIMIT
    return DOCUMENT_LIMIT


def read_bounded(response: requests.Response, limit: int, timeout: float) -> bytes:
    """Read a ``stream=True`` body into ``response.content``, at most ``limit`` bytes within ``timeout`` s.

    Reads what arrives (``read1``), so a body dripping a byte at a time also ends at the deadline.
    Raises AnswerTooLarge over the limit and ``requests.Timeout`` past the deadline (the response is
    closed either way); a broken body raises what requests raises.
    """
    if getattr(response, "_content_consumed", False) and isinstance(response._content, bytes):
        return response._content
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    total = 0
    try:
        for chunk in _body_pieces(response):
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                response._content = b"".join(chunks)[:BODY_PREVIEW]  # a preview for the report
                response._content_consumed = True
                raise AnswerTooLarge(f"answer exceeded {limit} bytes")
            if time.monotonic() > deadline:
                raise requests.Timeout(f"answer not complete after {timeout:g} s ({total} bytes arrived)")
    except (AnswerTooLarge, requests.Timeout):
        response.close()
        raise
    except Exception as exc:  # noqa: BLE001 - urllib3/socket errors while reading, as requests names them
        response.close()
        raise requests.ConnectionError(_one_line(exc)) from exc
    response._content = b"".join(chunks)
    response._content_consumed = True
    return response._content


def _body_pieces(response: requests.Response) -> Iterator[bytes]:
    """The body as it arrives: ``raw.read1`` for requests' responses (decoded as requests does);
    ``iter_content`` for a transport's own response type that has no urllib3 ``raw``."""
    if not hasattr(response, "raw"):
        yield from response.iter_content(READ_CHUNK)
        return
    raw = response.raw
    while raw is not None:
        chunk = raw.read1(READ_CHUNK, decode_content=True) if hasattr(raw, "read1") else raw.read(READ_CHUNK)
        if not chunk:
            return
        yield chunk


class UnexpectedResponse(AssertionError):
    """A response whose status was not one of those expected; the message shows the exchange."""

    def __init__(self, message: str, response: requests.Response | None = None):
        super().__init__(message)
        self.response = response


@dataclass(frozen=True)
class Link:
    """One entry of a ``Link`` header."""

    url: str
    rel: str | None


def parse_link_header(value: str | None) -> list[Link]:
    """Parse ``Link: <url>; rel="next", …`` into entries (malformed parts are skipped)."""
    links = []
    for match in _LINK_RE.finditer(value or ""):
        rel = None
        for param in match.group(2).split(";"):
            key, _, val = param.strip().partition("=")
            if key.strip().lower() == "rel":
                rel = val.strip().strip('"')
        links.append(Link(match.group(1), rel))
    return links


class PageTrail:
    """The pages a ``Link`` walk has met, to stop it at the first loop or repeated page.

    A Link back to an earlier page is a loop; a page whose body equals an earlier page's makes no
    progress (an endless chain of new URLs serving the same page). Both raise UnexpectedResponse
    naming the page, so a broken pagination ends in milliseconds, not after thousands of pages.
    """

    def __init__(self, first: requests.Response) -> None:
        self.urls = {first.url}
        self.bodies = {_fingerprint(first): 1}

    def follow(self, url: str, number: int, response: requests.Response | None = None) -> None:
        """Check the ``next`` URL of page ``number`` before it is requested."""
        if url in self.urls:
            raise UnexpectedResponse(f"Link of page {number} loops back to an earlier page: {mask_url(url)}", response)
        self.urls.add(url)

    def arrived(self, response: requests.Response, number: int) -> None:
        """Check page ``number`` once it is read: it must not repeat an earlier page."""
        key = _fingerprint(response)
        if key in self.bodies:
            raise UnexpectedResponse(
                f"page {number} ({mask_url(response.url or '')}) repeats page {self.bodies[key]}: the Link header "
                "does not advance", response)
        self.bodies[key] = number


def _fingerprint(response: requests.Response) -> str:
    content = response.content if getattr(response, "_content_consumed", True) else b""
    return hashlib.sha256(content or b"").hexdigest()


def with_query(url: str, params: Iterable[tuple[str, str]] | dict[str, str]) -> str:
    """``url`` with ``params`` appended, keeping any query it already has (upload state)."""
    extra = urlencode(list(params.items()) if isinstance(params, dict) else list(params))
    if not extra:
        return url
    return f"{url}{'&' if urlsplit(url).query else '?'}{extra}"


def scope_for(method: str, path: str) -> str | None:
    """The token scope a request to ``path`` needs, from the one path grammar (``paths.parse``):
    the repository is the longest name that leaves a valid route, as the registry reads it."""
    parsed = paths.parse(urlsplit(path).path)
    if parsed is None or parsed.endpoint in (Endpoint.BASE, Endpoint.DISCOVER):
        return None
    if parsed.endpoint is Endpoint.CATALOG:
        return "registry:catalog:*"
    return repository_scope(parsed.name, ",".join(paths.required_actions(method, parsed.endpoint)))


class Stall:
    """Unusable answers in a row, shared by every client of one run (its siblings too).

    After ``give_up_after`` of them the registry counts as stopped for good: no client of the run
    sends again, so a registry that stalls below ``/v2/`` costs a few timeouts, not one per client.
    """

    def __init__(self, give_up_after: int | None = None) -> None:
        self.give_up_after = give_up_after
        self.in_a_row = 0
        self.last = "timed out"

    @property
    def stopped(self) -> bool:
        return self.give_up_after is not None and 0 < self.give_up_after <= self.in_a_row

    def unusable(self, how: str = "timed out") -> None:
        """Count one more request in a row without a usable answer (``how`` ends the give-up message)."""
        self.in_a_row += 1
        self.last = how

    def answered(self) -> None:
        if not self.stopped:  # a late answer to a sibling's request does not revive a stopped registry
            self.in_a_row = 0


class RegistryClient:
    """HTTP client for one registry target, with auth, recording and readable assertions.

    ``session`` is the transport: a ``requests.Session`` by default, or anything with the same
    surface (``verify``, ``request(method, url, headers=, data=, stream=, allow_redirects=, timeout=,
    verify=)`` and ``get``, answering objects with requests' response attributes and raising
    ``requests`` exceptions) — the load profiles pass their lean keep-alive transport. Extra keyword
    arguments of ``request`` are passed through to it.
    """

    def __init__(
        self,
        target: Target,
        session: requests.Session | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        recorder: Recorder | None = None,
        username: str | None = None,
        password: str | None = None,
        give_up_after: int | None = None,
        stall: Stall | None = None,
    ) -> None:
        self.target = target
        self.session = session or requests.Session()
        self.session.verify = target.verify
        quiet_if_insecure(target)
        self.timeout = timeout
        # After give_up_after timeouts in a row, stop sending: a hung registry fails fast, not for hours.
        self.stall = stall or Stall(give_up_after)
        self.recorder = recorder
        self.username = username if username is not None else target.username
        self.password = password if password is not None else target.password
        self.identity_token = target.identity_token if username is None else None  # OAuth2 refresh token
        self.oauth = False  # ask tokens by OAuth2 POST grant_type=password (docker login's way)
        self.rate_limit_retries = RATE_LIMIT_RETRIES  # 429 answers waited out per request (0: never)
        self.max_retry_wait = MAX_RETRY_WAIT
        self.rate_limited = 0  # 429 answers waited out so far
        self.tokens = TokenCache()
        self.challenge: Challenge | None = None
        self.last_token_response: TokenResponse | None = None
        self.last_token_http: requests.Response | None = None  # the token endpoint's last raw answer
        self.on_token: Callable[[TokenResponse, float], None] | None = None
        self._scopes: dict[tuple[str, str], str | None] = {}

    # -- the one request helper -------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.target.base_url

    def url(self, path: str) -> str:
        """Absolute URL for a path (``/v2/...``) or an absolute/relative Location."""
        if path.startswith(("http://", "https://")):
            return path
        if path.startswith("/") and "/." not in path and "//" not in path:
            return self.base_url + path  # what urljoin gives for a clean absolute path, without its cost
        return urljoin(self.base_url + "/", path)

    @property
    def secrets(self) -> tuple[str | None, ...]:
        return (self.password, self.identity_token)

    def request(
        self,
        method: str,
        path: str,
        *,
        expect: int | Iterable[int] | None = None,
        headers: dict[str, str] | None = None,
        data: bytes | Iterable[bytes] | None = None,
        params: dict[str, str] | list[tuple[str, str]] | None = None,
        scope: str | None = None,
        authenticate: bool = True,
        stream: bool = False,
        allow_redirects: bool = True,
        timeout: float | None = None,
        body_limit: int | None = None,
        **extra: object,
    ) -> requests.Response:
        """Send one request; authenticate on a 401 when possible; check the status if ``expect``.

        Unless ``stream``, the body is read bounded: ``body_limit`` bytes (default by kind, see
        ``body_limit_for``) within the timeout. Raises RegistryError when the registry cannot be
        reached or its answer is unusable (too large, too slow, broken) and UnexpectedResponse (an
        AssertionError whose message carries method, URL, expected and actual status and the
        body) when ``expect`` is given and not met.
        """
        url = self.url(path)
        if params:
            url = with_query(url, params)
        scope = scope or self._scope(method, url)
        sent_headers = dict(headers or {})
        if authenticate:
            self._authorize(sent_headers, scope, url)
        limit = body_limit or body_limit_for(method, url)
        response = self._send(method, url, sent_headers, data, stream, allow_redirects, timeout, extra, limit)
        rewindable = data is None or isinstance(data, bytes | bytearray)
        if response.status_code == 401 and authenticate and rewindable:
            if self._authenticate(response, scope):
                sent_headers = dict(headers or {})
                self._authorize(sent_headers, scope, url)
                response = self._send(method, url, sent_headers, data, stream, allow_redirects, timeout, extra,
                                      limit)
        if response.status_code == 429 and rewindable:
            response = self._after_rate_limit(response, method, url, sent_headers, data, stream, allow_redirects,
                                              timeout, extra, limit)
        if expect is not None:
            self.check(response, expect)
        return response

    def _after_rate_limit(self, response, method, url, headers, data, stream, allow_redirects, timeout,
                          extra, limit: int = DOCUMENT_LIMIT) -> requests.Response:
        """Honour 429 TOOMANYREQUESTS: wait ``Retry-After`` (1 s when absent or malformed) and send again,
        at most ``rate_limit_retries`` times and never longer than ``max_retry_wait`` per wait; each
        wait is counted in ``rate_limited``. The last answer is returned (a 429 when the limit holds)."""
        for _ in range(self.rate_limit_retries):
            wait = spec.retry_after_seconds(response.headers.get("Retry-After"))
            wait = DEFAULT_RETRY_WAIT if wait is None else wait
            if response.status_code != 429 or wait > self.max_retry_wait:
                break
            self.rate_limited += 1
            response.close()
            time.sleep(wait)
            response = self._send(method, url, headers, data, stream, allow_redirects, timeout, extra, limit)
        return response

    def check(self, response: requests.Response, expect: int | Iterable[int], what: str = "") -> None:
        """Raise UnexpectedResponse unless ``response.status_code`` is one of ``expect``."""
        allowed = (expect,) if isinstance(expect, int) else tuple(expect)
        if response.status_code in allowed:
            return
        raise UnexpectedResponse(self.explain(response, allowed, what), response)

    def explain(self, response: requests.Response, expected: Iterable[int] = (), what: str = "") -> str:
        """A readable, masked account of a response: request line, expectation, status, body."""
        req = response.request
        try:
            body = self.read_body(response, DOCUMENT_LIMIT) or b""
        except (RegistryError, requests.RequestException, RuntimeError):
            body = b""
        try:
            text = body[:BODY_PREVIEW].decode()
        except UnicodeDecodeError:
            text = f"({len(body)} bytes of binary data)"
        expected_text = " or ".join(str(s) for s in expected)
        lines = [
            f"{what + ': ' if what else ''}{req.method} {mask_url(req.url or '')}",
            f"  expected status {expected_text}, got {response.status_code}" if expected_text
            else f"  got status {response.status_code}",
        ]
        if text:
            lines.append(f"  body: {text}")
        return mask_text("\n".join(lines), self.secrets)

    # -- transport, auth and recording ------------------------------------------------------

    def sibling(self, *, username: str | None = None, password: str | None = None) -> RegistryClient:
        """A client of its own (session, tokens) for the same target: same timeout, recorder and stall.

        For a thread of its own or other credentials; ``username=""`` is anonymous.
        """
        return RegistryClient(self.target, timeout=self.timeout, recorder=self.recorder, stall=self.stall,
                              username=username, password=password)

    def read_body(self, response: requests.Response, limit: int | None = None) -> bytes:
        """The body of a ``stream=True`` response, read bounded (``limit`` bytes, the client's timeout).

        Raises RegistryError naming the request when the body is too large, too slow or broken.
        """
        req = response.request
        where = f"{req.method} {mask_url(req.url or '')}" if req is not None else "answer"
        try:
            return read_bounded(response, limit or body_limit_for(req.method or "GET", req.url or ""), self.timeout)
        except AnswerTooLarge as exc:
            self._count_unusable(exc)
            raise AnswerTooLarge(f"{where}: {exc}") from None
        except requests.RequestException as exc:
            self._count_unusable(exc)
            raise RegistryError(f"{where}: no usable answer from the registry ({_one_line(exc)})") from exc

    def _count_unusable(self, exc: Exception) -> None:
        """Count a too slow or too large answer towards ``give_up_after``; other failures do not count."""
        if isinstance(exc, requests.Timeout | AnswerTooLarge):
            self.stall.unusable("exceeded their size limit" if isinstance(exc, AnswerTooLarge) else "timed out")

    def _send(self, method, url, headers, data, stream, allow_redirects, timeout, extra,
              limit: int = DOCUMENT_LIMIT) -> requests.Response:
        if self.stall.stopped:
            cause = (f"{method} {mask_url(url)}: not sent: the registry stopped answering "
                     f"({self.stall.in_a_row} requests in a row {self.stall.last})")
            self._record(method, url, headers, None, None, time.perf_counter(), stream, error=cause)
            raise RegistryError(cause)
        started = time.perf_counter()
        body_bytes = bytes(data) if isinstance(data, bytes | bytearray) else None
        # An explicit verify keeps REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE from overriding the TLS mode.
        extra.setdefault("verify", self.session.verify)
        wait = timeout or self.timeout
        response = None
        try:
            # always streamed: the body is read here, bounded, never whole by requests
            response = self.session.request(
                method, url, headers=headers, data=data, stream=True,
                allow_redirects=allow_redirects, timeout=wait, **extra,
            )
            if method == "HEAD":
                # a HEAD answer has no body; a registry that sends one anyway would be read as the next
                # answer's status line on a kept-alive connection (a dripping one never ends): never reuse it
                response.close()
                response._content, response._content_consumed = b"", True
            elif not stream:
                read_bounded(response, limit, wait)
                done = getattr(self.session, "body_done", None)  # sessions that time whole bodies (load)
                if done is not None:
                    done(len(response.content))
        except (requests.RequestException, AnswerTooLarge) as exc:
            self._count_unusable(exc)
            self._record(method, url, headers, body_bytes, response, started, True, error=_one_line(exc))
            if isinstance(exc, AnswerTooLarge):
                raise AnswerTooLarge(f"{method} {mask_url(url)}: {exc}") from None
            raise RegistryError(
                f"{method} {mask_url(url)}: no usable answer from the registry ({_one_line(exc)})"
            ) from exc
        self.stall.answered()
        self._record(method, url, headers, body_bytes, response, started, stream)
        return response

    def _record(self, method, url, headers, body, response, started, stream=False, error=None) -> None:
        if self.recorder is None:
            return
        exchange = Exchange(
            method=method,
            url=url,
            request_headers=list(headers.items()),
            request_body=body[:BODY_PREVIEW] if body else None,
            request_body_length=len(body) if body is not None else None,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            error=error,
            insecure=self.target.tls == "insecure",
        )
        if response is not None:
            exchange.status = response.status_code
            exchange.response_headers = list(response.headers.items())
            if not stream:
                exchange.response_body = response.content[:BODY_PREVIEW]
        self.recorder(exchange)

    def _scope(self, method: str, url: str) -> str | None:
        """``scope_for`` the URL's path, remembered per URL (a load run asks for the same ones again and again)."""
        key = (method, url)
        try:
            return self._scopes[key]
        except KeyError:
            pass
        if len(self._scopes) >= SCOPE_CACHE:
            self._scopes.clear()
        scope = self._scopes[key] = scope_for(method, urlsplit(url).path)
        return scope

    def _authorize(self, headers: dict[str, str], scope: str | None, url: str) -> None:
        challenge = self.challenge
        if challenge is None or "Authorization" in headers or urlsplit(url).netloc != self.target.netloc:
            return
        if challenge.scheme == "basic" and self.username:
            headers["Authorization"] = basic_header(self.username, self.password or "")
        elif challenge.scheme == "bearer":
            key = (challenge.realm or "", challenge.params.get("service", ""), scope or "")
            token = self.tokens.get(*key)
            stale = self.tokens.expired(*key) if token is None else None
            if stale is not None:
                # Renew a token that is about to lapse before sending, instead of collecting a 401.
                token = self._fetch_token(challenge, stale.scope or scope, key)
            if token:
                headers["Authorization"] = f"Bearer {token.value}"

    def _fetch_token(self, challenge: Challenge, wanted: str | None, key: tuple[str, str, str]) -> Token | None:
        """Ask the challenge's realm for a token for ``wanted``; cache it under ``key``; None on failure."""
        started = time.perf_counter()
        self.tokens.fetches += 1
        try:
            result = fetch_token(
                self.session, challenge, wanted, self.username, self.password, self.timeout,
                send=self._token_send, identity_token=self.identity_token, oauth=self.oauth,
            )
        except (AuthError, requests.RequestException):
            return None
        self.last_token_response = result
        if self.on_token is not None:
            self.on_token(result, (time.perf_counter() - started) * 1000)
        if result.token is None:
            self.tokens.forget(*key)
            return None
        self.tokens.put(*key, result.token)
        return result.token

    def _authenticate(self, response: requests.Response, scope: str | None) -> bool:
        """Handle a 401: pick a challenge, obtain credentials for it; True when a retry makes sense.

        Bearer: a new token for the scope the challenge names (which may be wider than the one
        asked for, e.g. a mount source) replaces the cached one; the request is retried once when
        the new token differs from the one that was refused.
        """
        challenges = parse_challenges(response.headers.get("WWW-Authenticate"))
        bearer = next((c for c in challenges if c.scheme == "bearer"), None)
        basic = next((c for c in challenges if c.scheme == "basic"), None)
        if bearer is not None:
            wanted = bearer.params.get("scope") or scope
            kept = {k: v for k, v in bearer.params.items() if k not in ("scope", "error")}
            self.challenge = Challenge("bearer", kept)
            key = (bearer.realm or "", bearer.params.get("service", ""), scope or "")
            self.tokens.forget(*key)
            token = self._fetch_token(bearer, wanted, key)
            if token is None:
                return False
            return response.request.headers.get("Authorization") != f"Bearer {token.value}"
        if basic is not None and self.username:
            already = response.request.headers.get("Authorization", "").startswith("Basic ")
            self.challenge = Challenge("basic", basic.params)
            return not already
        return False

    def token_for(self, scope: str | None, challenge: Challenge | None = None, *, username: str | None = None,
                  password: str | None = None, identity_token: str | None = None,
                  oauth: bool = False) -> TokenResponse:
        """Ask the Bearer realm for a token for exactly ``scope``, recorded but neither cached nor
        counted by ``on_token`` (checks use it to hold tokens of a known scope).

        ``challenge`` defaults to the one this client last met; credentials default to the client's
        (pass ``username=""`` for an anonymous request); ``identity_token`` or ``oauth`` ask by OAuth2
        POST (see ``fetch_token``). Raises AuthError without a Bearer challenge.
        """
        challenge = challenge or self.challenge
        if challenge is None or challenge.scheme != "bearer":
            raise AuthError("no Bearer challenge known: the registry has not asked for a token")
        user = self.username if username is None else username
        secret = self.password if password is None else password
        return fetch_token(self.session, challenge, scope, user or None, secret, self.timeout,
                           send=self._token_send, identity_token=identity_token, oauth=oauth)

    def _token_send(self, method: str, url: str, **kwargs: object) -> requests.Response:
        """Send a token request and record it; a POST's form (it holds credentials) is never recorded."""
        started = time.perf_counter()
        headers = kwargs.get("headers") or {}
        params = kwargs.pop("params", None)
        full = with_query(url, params) if params else url
        kwargs.setdefault("verify", self.session.verify)
        kwargs["stream"] = True
        try:
            response = self.session.request(method, full, **kwargs)
            read_bounded(response, DOCUMENT_LIMIT, float(kwargs.get("timeout") or self.timeout))  # type: ignore[arg-type]
        except (requests.RequestException, AnswerTooLarge) as exc:
            self._record(method, full, headers, None, None, started, error=_one_line(exc))
            raise requests.RequestException(f"token endpoint: {_one_line(exc)}") from None
        self._record(method, full, headers, None, response, started)
        self.last_token_http = response
        return response

    # -- base and blobs ---------------------------------------------------------------------

    def ping(self, **kw: object) -> requests.Response:
        """GET /v2/ (end-1)."""
        return self.request("GET", "/v2/", **kw)

    def blob_path(self, repo: str, digest: str) -> str:
        return f"/v2/{repo}/blobs/{digest}"

    def head_blob(self, repo: str, digest: str, **kw: object) -> requests.Response:
        return self.request("HEAD", self.blob_path(repo, digest), **kw)

    def get_blob(self, repo: str, digest: str, **kw: object) -> requests.Response:
        return self.request("GET", self.blob_path(repo, digest), **kw)

    def delete_blob(self, repo: str, digest: str, **kw: object) -> requests.Response:
        return self.request("DELETE", self.blob_path(repo, digest), **kw)

    def start_upload(self, repo: str, params: dict[str, str] | None = None, **kw: object) -> requests.Response:
        """POST /v2/<repo>/blobs/uploads/ (end-4a, or end-4b/4c/11 with ``params``)."""
        return self.request("POST", f"/v2/{repo}/blobs/uploads/", params=params, **kw)

    def location(self, response: requests.Response) -> str:
        """The absolute upload/resource URL from a response's Location (relative ones resolved)."""
        value = response.headers.get("Location")
        if not value:
            raise UnexpectedResponse(
                self.explain(response, what="missing Location header") + "\n  (Location is required here)",
                response,
            )
        return urljoin(response.url or self.base_url + "/", value)

    def push_blob(
        self,
        repo: str,
        data: bytes,
        mode: str = "monolithic",
        *,
        algorithm: str = "sha256",
        chunk_size: int | None = None,
        digest: str | None = None,
        **kw: object,
    ) -> str:
        """Upload ``data`` to ``repo`` in one of UPLOAD_MODES and return its digest.

        Every step asserts its status, so a failing registry raises UnexpectedResponse naming it,
        and the digest the registry reports for the completed blob must be the blob's own.
        With a precomputed ``digest``, ``data`` may be any sized, sliceable iterable of bytes (a body
        streamed without copying, as the load profiles do).
        """
        digest = digest or digest_of(data, algorithm)
        done = self._upload_blob(repo, data, mode, algorithm, chunk_size, digest, kw)
        self.check_reported_digest(done, digest, "completed blob upload")
        return digest

    def check_reported_digest(self, response: requests.Response, digest: str, what: str) -> None:
        """Raise UnexpectedResponse when a write's ``Docker-Content-Digest`` names other content than ``digest``
        (a digest of another algorithm is left to the caller; an absent header is allowed)."""
        reported = (response.headers.get("Docker-Content-Digest") or "").strip()
        if reported and reported.split(":", 1)[0] == digest.split(":", 1)[0] and reported != digest:
            raise UnexpectedResponse(
                self.explain(response, what=what) + f"\n  Docker-Content-Digest {reported} is not the digest "
                f"of the content written ({digest})", response)

    def _upload_blob(self, repo: str, data: bytes, mode: str, algorithm: str, chunk_size: int | None,
                     digest: str, kw: dict) -> requests.Response:
        """The upload steps of ``push_blob``; returns the 201 that completed it."""
        octet = {"Content-Type": "application/octet-stream"}
        if mode == "single":
            response = self.start_upload(
                repo, {"digest": digest}, data=data, headers=octet, expect=(201, 202), **kw
            )
            if response.status_code == 201:
                return response
            return self.request("PUT", with_query(self.location(response), {"digest": digest}),
                                data=data, headers=octet, expect=201, **kw)
        params = {"digest-algorithm": algorithm} if algorithm != "sha256" else None
        response = self.start_upload(repo, params, expect=202, **kw)
        location = self.location(response)
        if mode == "monolithic":
            return self.request("PUT", with_query(location, {"digest": digest}), data=data, headers=octet,
                                expect=201, **kw)
        if mode == "streamed":
            response = self.request("PATCH", location, data=data, headers=octet, expect=202, **kw)
            return self.request("PUT", with_query(self.location(response), {"digest": digest}), expect=201, **kw)
        if mode == "chunked":
            minimum = int(response.headers.get("OCI-Chunk-Min-Length") or 0)
            size = max(chunk_size or max(len(data) // 3, 1), minimum, 1)
            offset = 0
            while offset < len(data):
                chunk = data[offset:offset + size]
                headers = {**octet, "Content-Range": f"{offset}-{offset + len(chunk) - 1}"}
                response = self.request("PATCH", location, data=chunk, headers=headers, expect=202, **kw)
                location = self.location(response)
                offset += len(chunk)
            return self.request("PUT", with_query(location, {"digest": digest}), expect=201, **kw)
        raise ValueError(f"unknown upload mode {mode!r}; choose one of {UPLOAD_MODES}")

    def mount_blob(self, repo: str, digest: str, from_repo: str | None = None, **kw: object) -> requests.Response:
        """POST ?mount=<digest>[&from=<repo>] (end-11)."""
        params = {"mount": digest}
        if from_repo:
            params["from"] = from_repo
        return self.start_upload(repo, params, **kw)

    # -- manifests --------------------------------------------------------------------------

    def manifest_path(self, repo: str, reference: str) -> str:
        return f"/v2/{repo}/manifests/{reference}"

    def put_manifest(
        self, repo: str, reference: str, body: bytes, media_type: str, tags: Iterable[str] = (), **kw: object
    ) -> requests.Response:
        """PUT a manifest by tag or digest (end-7a), with ``?tag=`` parameters (end-7b)."""
        params = [("tag", t) for t in tags] or None
        headers = {"Content-Type": media_type, **dict(kw.pop("headers", None) or {})}
        return self.request("PUT", self.manifest_path(repo, reference), data=body, headers=headers,
                            params=params, **kw)

    def get_manifest(
        self, repo: str, reference: str, accept: str | Iterable[str] | None = DEFAULT_ACCEPT,
        method: str = "GET", **kw: object,
    ) -> requests.Response:
        """GET/HEAD a manifest (end-3) with the given Accept (None sends no Accept header)."""
        headers = dict(kw.pop("headers", None) or {})
        if accept is not None:
            headers["Accept"] = accept if isinstance(accept, str) else ", ".join(accept)
        return self.request(method, self.manifest_path(repo, reference), headers=headers, **kw)

    def delete_manifest(self, repo: str, reference: str, **kw: object) -> requests.Response:
        return self.request("DELETE", self.manifest_path(repo, reference), **kw)

    # -- listings ---------------------------------------------------------------------------

    def tags_list(self, repo: str, n: int | None = None, last: str | None = None, **kw: object) -> requests.Response:
        """GET /v2/<repo>/tags/list[?n=&last=] (end-8a/b)."""
        return self.request("GET", f"/v2/{repo}/tags/list", params=_page_params(n, last), **kw)

    def catalog(self, n: int | None = None, last: str | None = None, **kw: object) -> requests.Response:
        """GET /v2/_catalog[?n=&last=] (Docker)."""
        return self.request("GET", "/v2/_catalog", params=_page_params(n, last), **kw)

    def referrers(self, repo: str, digest: str, artifact_type: str | None = None, **kw: object) -> requests.Response:
        """GET /v2/<repo>/referrers/<digest>[?artifactType=] (end-12a/b)."""
        params = {"artifactType": artifact_type} if artifact_type else None
        return self.request("GET", f"/v2/{repo}/referrers/{digest}", params=params, **kw)

    def pages(self, first: requests.Response, max_pages: int = MAX_PAGES, **kw: object) -> Iterator[requests.Response]:
        """Yield ``first`` and every page reached by following ``Link: rel="next"``.

        Bounded: the walk stops with UnexpectedResponse at the first page whose Link loops back or
        that repeats an earlier page (no progress), and after ``max_pages``.
        """
        response = first
        trail = PageTrail(first)
        for number in range(1, max_pages + 1):
            yield response
            nxt = next((link for link in parse_link_header(response.headers.get("Link")) if link.rel == "next"), None)
            if nxt is None or response.status_code != 200:
                return
            url = urljoin(response.url, nxt.url)
            trail.follow(url, number, response)
            response = self.request("GET", url, expect=200, **kw)
            trail.arrived(response, number + 1)
        raise UnexpectedResponse(f"more than {max_pages} pages: Link header never ends", response)

    # -- whole images -----------------------------------------------------------------------

    def push_image(self, repo: str, image: object, reference: str | None = None, mode: str = "monolithic",
                   **kw: object) -> requests.Response:
        """Push every blob of ``image`` (a builders.Image or Artifact) then its manifest."""
        for blob in image.blobs:  # type: ignore[attr-defined]
            head = self.head_blob(repo, blob.digest, **kw)
            if head.status_code != 200:
                self.push_blob(repo, blob.data, mode, algorithm=blob.digest.split(":")[0], **kw)
        return self.put_manifest(repo, reference or image.digest, image.manifest,  # type: ignore[attr-defined]
                                 image.media_type, expect=201, **kw)  # type: ignore[attr-defined]

    def pull_verified(self, repo: str, digest: str, size: int | None = None, **kw: object) -> bytes:
        """GET a blob, streaming and hashing it, and verify it against ``digest`` (and ``size``).

        Raise UnexpectedResponse on a mismatch; the bytes are returned up to BLOB_HOLD_LIMIT
        (above it the body is hashed and dropped, and ``b""`` is returned).
        """
        response = self.get_blob(repo, digest, expect=200, stream=True, **kw)
        algorithm = digest.split(":", 1)[0]
        hasher = hashlib.new(algorithm)
        held: list[bytes] = []
        received = 0
        limit = size if size is not None else None
        try:
            for chunk in response.iter_content(READ_CHUNK):
                hasher.update(chunk)
                received += len(chunk)
                if limit is not None and received > limit:
                    raise AnswerTooLarge(f"GET {self.blob_path(repo, digest)}: answer exceeded {limit} bytes")
                if received <= BLOB_HOLD_LIMIT:
                    held.append(chunk)
        except requests.RequestException as exc:
            raise RegistryError(f"GET {self.blob_path(repo, digest)}: body broke off ({_one_line(exc)})") from exc
        finally:
            response.close()
        if f"{algorithm}:{hasher.hexdigest()}" != digest:
            raise UnexpectedResponse(
                f"GET {self.blob_path(repo, digest)}: body of {received} bytes does not hash to {digest}", response,
            )
        return b"".join(held) if received <= BLOB_HOLD_LIMIT else b""


def _page_params(n: int | None, last: str | None) -> dict[str, str] | None:
    params = {}
    if n is not None:
        params["n"] = str(n)
    if last is not None:
        params["last"] = last
    return params or None


def _one_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:300]
