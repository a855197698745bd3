"""A recorded HTTP exchange: what was sent and what came back, masked and ready for reports."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from registry_harness.redact import curl_command, mask_headers, mask_text, mask_url

BODY_PREVIEW = 4096

_REPO_PATH = re.compile(
    r"^/v2/(?P<name>.+?)/(?P<kind>blobs/uploads|blobs|manifests|tags/list|referrers)(?:/(?P<ref>.*))?$"
)
_KIND_PLACEHOLDER = {"blobs": "[digest]", "manifests": "[reference]", "referrers": "[digest]"}


def endpoint_name(method: str, url: str) -> str:
    """The endpoint template a request belongs to, e.g. ``GET /v2/[name]/blobs/[digest]``."""
    parts = urlsplit(url)
    path = parts.path or "/"
    method = method.upper()
    if path in ("/v2", "/v2/"):
        return f"{method} /v2/"
    if path.startswith("/v2/_catalog"):
        return f"{method} /v2/_catalog"
    match = _REPO_PATH.match(path)
    if not match:
        return f"{method} {path}"
    kind, ref = match.group("kind"), match.group("ref")
    if kind == "blobs/uploads":
        if ref:
            return f"{method} /v2/[name]/blobs/uploads/[uuid]"
        query = parts.query or ""
        suffix = "?mount" if "mount=" in query else "?digest" if "digest=" in query else ""
        return f"{method} /v2/[name]/blobs/uploads/{suffix}"
    if kind == "tags/list":
        return f"{method} /v2/[name]/tags/list"
    return f"{method} /v2/[name]/{kind}/{_KIND_PLACEHOLDER[kind]}"


@dataclass
class Exchange:
    """One request and its response (or the transport error that replaced it)."""

    method: str
    url: str
    request_headers: list[tuple[str, str]]
    request_body: bytes | None
    request_body_length: int | None
    status: int | None = None
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    response_body: bytes = b""
    elapsed_ms: float = 0.0
    error: str | None = None
    insecure: bool = False

    def curl(self) -> str:
        """A curl line that reproduces this request, secrets masked."""
        return curl_command(self.method, self.url, self.request_headers, self.request_body, self.insecure)

    def to_dict(self, secrets: tuple[str | None, ...] = ()) -> dict[str, object]:
        """A JSON-ready, masked view of the exchange."""
        return {
            "method": self.method,
            "url": mask_url(self.url),
            "request_headers": mask_headers(self.request_headers),
            "request_body": _preview(self.request_body, self.request_body_length, secrets),
            "status": self.status,
            "response_headers": mask_headers(self.response_headers),
            "response_body": _preview(self.response_body, None, secrets),
            "elapsed_ms": round(self.elapsed_ms, 3),
            "error": mask_text(self.error, secrets) if self.error else None,
            "curl": mask_text(self.curl(), secrets),
        }

    def describe(self, secrets: tuple[str | None, ...] = ()) -> str:
        """A readable multi-line rendering (request line, headers, body preview), masked."""
        lines = [f"> {self.method} {mask_url(self.url)}"]
        lines += [f"> {k}: {v}" for k, v in mask_headers(self.request_headers)]
        body = _preview(self.request_body, self.request_body_length, secrets)
        if body:
            lines += [">", *(f"> {line}" for line in body.splitlines())]
        if self.error:
            lines.append(f"< (no response: {mask_text(self.error, secrets)})")
        else:
            lines.append(f"< HTTP {self.status}")
            lines += [f"< {k}: {v}" for k, v in mask_headers(self.response_headers)]
            body = _preview(self.response_body, None, secrets)
            if body:
                lines += ["<", *(f"< {line}" for line in body.splitlines())]
        return "\n".join(lines)


def _preview(body: bytes | None, length: int | None, secrets: tuple[str | None, ...]) -> str:
    if not body:
        return f"({length} bytes streamed)" if length else ""
    total = length if length is not None else len(body)
    head = body[:BODY_PREVIEW]
    try:
        text = head.decode()
    except UnicodeDecodeError:
        return f"({total} bytes of binary data)"
    if not all(c.isprintable() or c in "\r\n\t" for c in text):
        return f"({total} bytes of binary data)"
    suffix = f"\n… ({total - len(head)} more bytes)" if total > len(head) else ""
    return mask_text(text, secrets) + suffix
