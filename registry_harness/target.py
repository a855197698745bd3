"""Where the registry under test lives: parse TARGET / OCI_* settings into one Target.

Accepts ``host:port``, ``http(s)://host:port`` and the OCI conformance suite's environment
vocabulary (``OCI_REGISTRY``, ``OCI_TLS``, ``OCI_REPO1``, ``OCI_REPO2``, ``OCI_USERNAME``,
``OCI_PASSWORD`` and the older ``OCI_ROOT_URL``, ``OCI_NAMESPACE``). Loopback targets default to
plain http, others to verified https.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from registry_harness.credentials import CredentialsError
from registry_harness.credentials import lookup as lookup_credentials

TLS_MODES = ("enabled", "insecure", "disabled")
_HOST_PORT_RE = re.compile(r"^(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(?P<port>\d{1,5}))?$")


class TargetError(ValueError):
    """A TARGET that cannot be used; its message is one line meant for the user."""


@dataclass(frozen=True)
class Target:
    """A registry endpoint plus how to talk to it (TLS mode, credentials, repositories)."""

    host: str
    port: int | None = None
    tls: str = "disabled"
    ca_bundle: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    repo1: str | None = None
    repo2: str | None = None
    identity_token: str | None = field(default=None, repr=False)  # OAuth2 refresh token (docker login)

    @property
    def scheme(self) -> str:
        return "http" if self.tls == "disabled" else "https"

    @property
    def netloc(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """``scheme://host[:port]`` without a trailing slash."""
        return f"{self.scheme}://{self.netloc}"

    @property
    def verify(self) -> bool | str:
        """The ``verify`` argument for requests: CA bundle path, True, or False for insecure."""
        if self.tls == "insecure":
            return False
        return self.ca_bundle or True

    @property
    def has_credentials(self) -> bool:
        return bool(self.username)

    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)

    def redacted(self) -> dict[str, object]:
        """The target as a dict safe to echo in reports: the password is never included."""
        shown: dict[str, object] = {
            "url": self.base_url,
            "tls": self.tls,
            "ca_bundle": self.ca_bundle,
            "username": self.username,
            "password": "***" if self.password else None,
            "repo1": self.repo1,
            "repo2": self.repo2,
        }
        if self.identity_token:
            shown["identity_token"] = "***"
        return shown

    def with_credentials(self, username: str | None, password: str | None) -> Target:
        return replace(self, username=username, password=password)


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and addresses in 127.0.0.0/8 or ::1."""
    bare = host.strip("[]").lower()
    if bare == "localhost" or bare.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False


def parse_target(text: str, tls: str | None = None, ca_bundle: str | None = None) -> Target:
    """Parse ``host:port`` or a URL into a Target; ``tls`` overrides the scheme's choice."""
    raw = (text or "").strip()
    if not raw:
        raise TargetError("no target given: set TARGET=host:port (or OCI_REGISTRY)")
    if tls is not None and tls not in TLS_MODES:
        raise TargetError(f"TLS mode {tls!r} is not one of {', '.join(TLS_MODES)}")
    scheme = None
    if "://" in raw:
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https"):
            raise TargetError(f"target {raw!r}: scheme must be http or https")
        if parts.path not in ("", "/", "/v2", "/v2/") or parts.query or parts.fragment:
            raise TargetError(f"target {raw!r}: give the registry root, without a path")
        if parts.username or parts.password:
            raise TargetError("target: put credentials in USERNAME/PASSWORD, not in the URL")
        scheme, raw = parts.scheme, parts.netloc
    match = _HOST_PORT_RE.match(raw)
    if not match:
        raise TargetError(f"target {text!r} is not host:port or http(s)://host:port")
    host = match.group("host")
    port = int(match.group("port")) if match.group("port") else None
    if port is not None and not 0 < port < 65536:
        raise TargetError(f"target {text!r}: port must be between 1 and 65535")
    if tls is None:
        if scheme == "https":
            tls = "enabled"
        elif scheme == "http" or is_loopback_host(host):
            tls = "disabled"
        else:
            tls = "enabled"
    elif scheme == "http" and tls != "disabled":
        raise TargetError(f"target {text!r} says http but TLS mode is {tls!r}")
    elif scheme == "https" and tls == "disabled":
        raise TargetError(f"target {text!r} says https but TLS mode is 'disabled'")
    return Target(host=host, port=port, tls=tls, ca_bundle=ca_bundle)


def target_from_env(env: Mapping[str, str] | None = None, target: str | None = None) -> Target | None:
    """Build a Target from an explicit ``target`` and/or the environment; None when nothing is set.

    Precedence: explicit ``target``, then ``TARGET``, ``OCI_REGISTRY``, ``OCI_ROOT_URL``.
    TLS: ``OCI_TLS`` (enabled|insecure|disabled) and ``OCI_CA_BUNDLE``; credentials:
    ``OCI_USERNAME``/``OCI_PASSWORD``; repositories: ``OCI_REPO1``/``OCI_REPO2`` or
    ``OCI_NAMESPACE`` (used for both). The Makefile maps its short names (TLS, USERNAME, …) here.
    Without ``OCI_USERNAME`` the credentials container tools stored for the host are used (the
    containers auth.json, Docker's config.json and its credential helpers: ``credentials.py``).
    """
    env = os.environ if env is None else env
    text = target or env.get("TARGET") or env.get("OCI_REGISTRY") or env.get("OCI_ROOT_URL")
    if not text:
        return None
    tls = env.get("OCI_TLS") or None
    ca_bundle = env.get("OCI_CA_BUNDLE") or None
    parsed = parse_target(text, tls=tls, ca_bundle=ca_bundle)
    namespace = env.get("OCI_NAMESPACE") or None
    username, password, identity_token = env.get("OCI_USERNAME") or None, env.get("OCI_PASSWORD") or None, None
    if username is None:
        try:
            found = lookup_credentials(parsed.netloc, env)
        except CredentialsError as exc:
            raise TargetError(str(exc)) from None
        if found is not None:
            username, password, identity_token = found.username, found.password, found.identity_token
    return replace(
        parsed,
        username=username,
        password=password,
        identity_token=identity_token,
        repo1=env.get("OCI_REPO1") or namespace,
        repo2=env.get("OCI_REPO2") or namespace,
    )


PROBE_TIMEOUT = 10.0


def quiet_if_insecure(target: Target) -> None:
    """With TLS mode 'insecure' the user chose unverified https: do not warn on every request."""
    if target.tls == "insecure":
        import urllib3

        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)


PROBE_READ_LIMIT = 64 * 1024  # an API root answers a few bytes; more than this is not a registry's /v2/
PROBE_MAX_REDIRECTS = 10


@dataclass(frozen=True)
class ProbeAnswer:
    """What ``GET /v2/`` answered: status, headers and the first bytes of the body (bounded)."""

    url: str
    status: int
    headers: dict[str, str]
    body: bytes = b""
    exceeded: bool = False  # the body was longer than PROBE_READ_LIMIT
    redirects: int = 0

    def header(self, name: str) -> str:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), "")

    def not_a_registry(self) -> str | None:
        """Why this answer does not look like a registry's API root, in one line; None when it does.

        A registry's ``/v2/`` answers 200 or 401; it carries ``Docker-Distribution-API-Version``,
        a Bearer/Basic challenge, or a small JSON body (a spec error envelope on a 401). An HTML
        page, any other status without a spec error body, or an endless body does not.
        """
        content_type = self.header("Content-Type").split(";", 1)[0].strip().lower()
        html = content_type in ("text/html", "application/xhtml+xml") or \
            self.body.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html"))
        api_header = bool(self.header("Docker-Distribution-API-Version"))
        challenge = self.status == 401 and bool(self.header("WWW-Authenticate"))
        json_body = _is_json(self.body) if not self.exceeded else False
        signs = []
        if self.exceeded:
            signs.append(f"its answer exceeded {PROBE_READ_LIMIT} bytes")
        if html:
            signs.append(f"it is an HTML page ({content_type or 'no Content-Type'})")
        if self.status not in (200, 401) and not (api_header or _is_error_envelope(self.body)):
            signs.append("not 200 or 401, without a spec error body")
        elif not (api_header or challenge or json_body or (not self.body and self.status == 200)):
            signs.append("no Docker-Distribution-API-Version header, no JSON body")
        if not signs:
            return None
        via = f" after {self.redirects} redirects" if self.redirects else ""
        return (f"{self.url} does not look like a registry: GET /v2/ answered {self.status}{via}, "
                + "; ".join(signs))


def _is_json(body: bytes) -> bool:
    import json

    try:
        json.loads(body or b"")
    except ValueError:
        return False
    return bool(body.strip())


def _is_error_envelope(body: bytes) -> bool:
    import json

    try:
        document = json.loads(body or b"")
    except ValueError:
        return False
    return isinstance(document, dict) and isinstance(document.get("errors"), list)


def probe(target: Target, timeout: float = PROBE_TIMEOUT) -> int:
    """GET ``/v2/`` once and return the status; any HTTP answer (401, 404, 500…) counts as reachable.

    Raises TargetError with one line (and a hint where one helps) when nothing usable answers:
    refused, TLS failure, timeout, a redirect loop. Shared by the suite's and the load runner's preflights.
    """
    return probe_answer(target, timeout).status


def probe_answer(target: Target, timeout: float = PROBE_TIMEOUT) -> ProbeAnswer:
    """GET ``/v2/`` (bounded: redirects, bytes and time) and return what answered; TargetError as ``probe``."""
    import time

    import requests  # the grammar above needs no HTTP stack; only probing does

    url = target.base_url + "/v2/"
    quiet_if_insecure(target)
    session = requests.Session()
    session.max_redirects = PROBE_MAX_REDIRECTS
    deadline = time.monotonic() + timeout
    try:
        response = session.get(url, timeout=timeout, verify=target.verify, stream=True)
        body, exceeded = b"", False
        while time.monotonic() < deadline:
            chunk = response.raw.read1(8192, decode_content=True)
            if not chunk:
                break
            body += chunk
            if len(body) > PROBE_READ_LIMIT:
                exceeded = True
                break
        else:
            raise requests.Timeout("timed out (the answer to GET /v2/ never completed)")
        response.close()
    except requests.exceptions.SSLError as exc:
        raise TargetError(f"{url}: TLS handshake failed ({short_cause(exc)}); give the CA with "
                          "OCI_CA_BUNDLE (make: CA_BUNDLE=) or use --tls insecure") from None
    except requests.TooManyRedirects:
        raise TargetError(f"{url}: registry unreachable (more than {PROBE_MAX_REDIRECTS} redirects: "
                          "a redirect loop)") from None
    except (requests.RequestException, OSError, ValueError) as exc:
        hint = ""
        if target.tls == "disabled" and isinstance(exc, requests.ConnectionError) and "refused" not in str(exc):
            hint = "; if it serves https, use an https:// target or --tls enabled|insecure"
        raise TargetError(f"{url}: registry unreachable ({short_cause(exc)}){hint}") from None
    finally:
        session.close()
    return ProbeAnswer(url, response.status_code, dict(response.headers), body[:PROBE_READ_LIMIT], exceeded,
                       len(response.history))


_CAUSE_RE = re.compile(r"\[SSL: [A-Z_]+\] ([^(]+)|(Connection refused|Name or service not known|timed out|"
                       r"Remote end closed connection without response|Connection reset by peer)")


def short_cause(exc: BaseException) -> str:
    """The cause of a requests error in a few words (requests nests urllib3's long reprs)."""
    text = str(exc).strip()
    match = _CAUSE_RE.search(text)
    if match:
        return (match.group(1) or match.group(2)).strip()
    lines = text.splitlines()
    return (lines[0] if lines else type(exc).__name__)[:200]
