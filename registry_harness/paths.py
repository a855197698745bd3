"""The registry's path grammar: which endpoint a ``/v2/...`` path names, and for which repository.

Repository names contain slashes and may have components called ``blobs``, ``manifests``,
``tags``, ``referrers`` or ``uploads`` (``team/app/blobs/x`` is a valid name). So a path is read
from its end: the trailing shape (``/manifests/<ref>``, ``/blobs/<digest>``, ``/blobs/uploads/``,
``/blobs/uploads/<id>``, ``/tags/list``, ``/referrers/<digest>``) names the endpoint and
everything before it is the name — the longest prefix that leaves a valid route. The reference
server's router, its authorization layer and the client's token scopes all split paths here and
nowhere else, so they always agree on which repository a request touches.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit


class Endpoint(StrEnum):
    """The endpoint families of the API (GUIDE §1 ids in brackets)."""

    BASE = "base"  # /v2/ (end-1)
    CATALOG = "catalog"  # /v2/_catalog (Docker)
    DISCOVER = "discover"  # /v2/_oci/ext/discover (extension discovery, OCI main)
    MANIFEST = "manifest"  # /v2/<name>/manifests/<reference> (end-3, end-7, end-9)
    BLOB = "blob"  # /v2/<name>/blobs/<digest> (end-2, end-10)
    UPLOAD_START = "upload_start"  # /v2/<name>/blobs/uploads/ (end-4, end-11)
    UPLOAD = "upload"  # /v2/<name>/blobs/uploads/<id> (end-5, end-6, end-13, end-14)
    TAGS = "tags"  # /v2/<name>/tags/list (end-8)
    REFERRERS = "referrers"  # /v2/<name>/referrers/<digest> (end-12)


REPOSITORY_ENDPOINTS = frozenset(Endpoint) - {Endpoint.BASE, Endpoint.CATALOG, Endpoint.DISCOVER}


@dataclass(frozen=True)
class RegistryPath:
    """A parsed ``/v2`` path: the endpoint, the repository name ('' for base and catalog) and the
    last path parameter (manifest reference, blob digest or upload id; '' where there is none)."""

    endpoint: Endpoint
    name: str = ""
    reference: str = ""

    def params(self) -> dict[str, str]:
        """The path parameters under the names the server's handlers take."""
        if self.endpoint is Endpoint.MANIFEST:
            return {"name": self.name, "reference": self.reference}
        if self.endpoint in (Endpoint.BLOB, Endpoint.REFERRERS):
            return {"name": self.name, "digest": self.reference}
        if self.endpoint is Endpoint.UPLOAD:
            return {"name": self.name, "uuid": self.reference}
        if self.endpoint in (Endpoint.UPLOAD_START, Endpoint.TAGS):
            return {"name": self.name}
        return {}


# (trailing segments before the last one, endpoint, whether the last segment is a parameter).
# Checked in this order; the first whose tail fits wins. ``uploads`` shapes come before ``blobs``
# so that ``/blobs/uploads/<id>`` is an upload session, never a blob named ``uploads``.
_TAILS: tuple[tuple[tuple[str, ...], Endpoint, str | None], ...] = (
    (("manifests",), Endpoint.MANIFEST, None),
    (("blobs", "uploads"), Endpoint.UPLOAD, None),
    (("blobs",), Endpoint.UPLOAD_START, "uploads"),
    (("blobs",), Endpoint.BLOB, None),
    (("tags",), Endpoint.TAGS, "list"),
    (("referrers",), Endpoint.REFERRERS, None),
)


def parse(path: str) -> RegistryPath | None:
    """The endpoint and repository of a request path, or None when no endpoint has that shape.

    The name is not validated here (callers answer NAME_INVALID for a bad one); it is only
    guaranteed non-empty for repository endpoints. A trailing slash is accepted only where the
    API has one (``/v2/`` and ``/blobs/uploads/``).
    """
    if path in ("/v2", "/v2/"):
        return RegistryPath(Endpoint.BASE)
    if not path.startswith("/v2/"):
        return None
    rest = path[4:]
    if rest == "_catalog":
        return RegistryPath(Endpoint.CATALOG)
    if rest == "_oci/ext/discover":
        return RegistryPath(Endpoint.DISCOVER)
    parts = rest.split("/")
    if parts[-1] == "" and len(parts) >= 4 and parts[-3:-1] == ["blobs", "uploads"]:
        name = "/".join(parts[:-3])
        return RegistryPath(Endpoint.UPLOAD_START, name) if name else None
    if len(parts) < 3:
        return None
    last = parts[-1]
    if not last:
        return None
    for before, endpoint, fixed in _TAILS:
        width = len(before)
        if len(parts) < width + 2 or tuple(parts[-1 - width:-1]) != before:
            continue
        if fixed is not None and last != fixed:
            continue
        name = "/".join(parts[:-1 - width])
        if not name:
            continue
        return RegistryPath(endpoint, name, "" if fixed is not None else last)
    return None


def repository_of(url_or_path: str) -> str | None:
    """The repository a request URL or path touches, or None (base, catalog, unknown shapes)."""
    parsed = parse(urlsplit(url_or_path).path)
    return parsed.name if parsed is not None and parsed.name else None


def required_actions(method: str, endpoint: Endpoint) -> tuple[str, ...]:
    """The token actions (``pull``, ``push``, ``delete``) a method on a repository endpoint needs:
    reads pull; deleting a manifest or a blob, delete; everything else pull and push, as Docker's
    token scope document assigns them. Every request on an upload session, its status GET
    included, needs push: a session is a writer's state, not content a reader may see."""
    if endpoint in (Endpoint.UPLOAD, Endpoint.UPLOAD_START):
        return ("pull", "push")
    if method in ("GET", "HEAD", "OPTIONS"):
        return ("pull",)
    if method == "DELETE" and endpoint in (Endpoint.BLOB, Endpoint.MANIFEST):
        return ("delete",)
    return ("pull", "push")
