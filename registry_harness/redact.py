"""Keep secrets out of output: mask credentials in headers, URLs and text, and build curl lines.

Everything the harness prints or writes (reports, logs, assertion messages) passes through here.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
SECRET_QUERY_KEYS = frozenset({"token", "access_token", "password", "client_secret", "refresh_token"})
_JSON_SECRET_RE = re.compile(
    r'("(?:token|access_token|refresh_token|password)"\s*:\s*")[^"]*(")', re.IGNORECASE
)


def mask_header(name: str, value: str) -> str:
    """The header value with its secret part replaced, keeping the auth scheme visible."""
    if name.lower() not in SECRET_HEADERS:
        return value
    scheme, _, rest = value.partition(" ")
    return f"{scheme} {MASK}" if rest else MASK


def mask_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Headers as (name, value) pairs with credentials masked."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(name, mask_header(name, value)) for name, value in items]


def mask_url(url: str) -> str:
    """The URL without userinfo and with token-like query parameters masked."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k.lower() in SECRET_QUERY_KEYS for k, _ in pairs):
            query = urlencode([(k, MASK if k.lower() in SECRET_QUERY_KEYS else v) for k, v in pairs])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def mask_text(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every given secret and every JSON token/password value masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return _JSON_SECRET_RE.sub(rf"\g<1>{MASK}\g<2>", text)


def curl_command(
    method: str,
    url: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    body: bytes | None = None,
    insecure: bool = False,
) -> str:
    """A curl line that reproduces the request, with secrets masked and large bodies elided."""
    parts = ["curl", "-i", "-X", method]
    if insecure:
        parts.append("-k")
    for name, value in mask_headers(headers):
        if name.lower() in ("content-length", "host", "accept-encoding", "connection", "user-agent"):
            continue
        parts += ["-H", f"{name}: {value}"]
    if body:
        if len(body) <= 512 and _printable(body):
            parts += ["--data-binary", body.decode()]
        else:
            parts += ["--data-binary", f"@body-{len(body)}-bytes.bin"]
    parts.append(mask_url(url))
    return " ".join(shlex.quote(p) for p in parts)


def _printable(data: bytes) -> bool:
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return False
    return text.isprintable() or all(c.isprintable() or c in "\n\r\t" for c in text)
