"""A recorded HTTP exchange: what was sent and what came back, masked and ready for reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from registry_harness import paths
from registry_harness.paths import Endpoint
from registry_harness.redact import curl_command, mask_headers, mask_text, mask_url

BODY_PREVIEW = 4096

_TEMPLATES = {
    Endpoint.BASE: "/v2/",
    Endpoint.CATALOG: "/v2/_catalog",
    Endpoint.DISCOVER: "/v2/_oci/ext/discover",
    Endpoint.MANIFEST: "/v2/[name]/manifests/[reference]",
    Endpoint.BLOB: "/v2/[name]/blobs/[digest]",
    Endpoint.UPLOAD_START: "/v2/[name]/blobs/uploads/",
    Endpoint.UPLOAD: "/v2/[name]/blobs/uploads/[uuid]",
    Endpoint.TAGS: "/v2/[name]/tags/list",
    Endpoint.REFERRERS: "/v2/[name]/referrers/[digest]",
}


def endpoint_name(method: str, url: str) -> str:
    """The endpoint template a request belongs to, e.g. ``GET /v2/[name]/blobs/[digest]`` (paths
    split by ``registry_harness.paths``, so a name like ``a/blobs/b`` never changes the template)."""
    parts = urlsplit(url)
    path = parts.path or "/"
    method = method.upper()
    parsed = paths.parse(path)
    if parsed is None:
        return f"{method} {path}"
    template = _TEMPLATES[parsed.endpoint]
    if parsed.endpoint is Endpoint.UPLOAD_START:
        query = parts.query or ""
        template += "?mount" if "mount=" in query else "?digest" if "digest=" in query else ""
    return f"{method} {template}"


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
