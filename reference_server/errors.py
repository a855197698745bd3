"""Spec errors as values: one constructor per error code, rendered in the spec's JSON shape.

Handlers ``raise`` a :class:`RegistryError`; the error middleware in ``app.py`` turns it into
``{"errors": [{"code", "message", "detail"}]}`` with the code's HTTP status.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from registry_harness.spec import ERROR_STATUS

JSON_CONTENT_TYPE = "application/json"


class RegistryError(Exception):
    """One spec error: code, human message, structured detail, HTTP status and extra headers."""

    def __init__(
        self,
        code: str,
        message: str,
        detail: Any = None,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.detail = {} if detail is None else detail
        self.status = status if status is not None else ERROR_STATUS[code]
        self.headers = dict(headers or {})

    def body(self) -> bytes:
        """The JSON body the spec prescribes for this error."""
        error = {"code": self.code, "message": self.message, "detail": self.detail}
        return json.dumps({"errors": [error]}).encode()

    def to_response(self) -> web.Response:
        """An aiohttp response carrying this error (aiohttp drops the body for HEAD requests)."""
        return web.Response(status=self.status, body=self.body(), content_type=JSON_CONTENT_TYPE,
                            headers=self.headers)


def blob_unknown(digest: str = "", **extra: Any) -> RegistryError:
    """404: the blob is not in this repository."""
    return RegistryError("BLOB_UNKNOWN", "blob unknown to registry", {"digest": digest, **extra})


def blob_upload_invalid(detail: Any = None, *, status: int = 400) -> RegistryError:
    """400: the upload session is in a state that cannot accept this request."""
    return RegistryError("BLOB_UPLOAD_INVALID", "blob upload invalid", detail, status=status)


def blob_upload_unknown(uuid: str = "") -> RegistryError:
    """404: no such upload session (never started, finished, cancelled or expired)."""
    return RegistryError("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", {"uuid": uuid})


def digest_invalid(detail: Any = None) -> RegistryError:
    """400: a malformed digest, or content that does not hash to the given digest."""
    return RegistryError("DIGEST_INVALID", "provided digest did not match uploaded content", detail)


def manifest_blob_unknown(digest: str) -> RegistryError:
    """400: the manifest references a blob or manifest this repository does not hold."""
    return RegistryError("MANIFEST_BLOB_UNKNOWN", "manifest references a blob unknown to the repository",
                         {"digest": digest})


def manifest_invalid(detail: Any = None, *, status: int = 400) -> RegistryError:
    """400 (or 413 for size): the manifest cannot be parsed or fails validation."""
    return RegistryError("MANIFEST_INVALID", "manifest invalid", detail, status=status)


def manifest_unknown(reference: str = "", message: str = "manifest unknown") -> RegistryError:
    """404: no such manifest (tag or digest) in this repository."""
    return RegistryError("MANIFEST_UNKNOWN", message, {"reference": reference})


def manifest_unverified(detail: Any = None) -> RegistryError:
    """400: a signed schema1 manifest whose signature does not verify."""
    return RegistryError("MANIFEST_UNVERIFIED", "manifest failed signature verification", detail)


def name_invalid(name: str = "", reason: str = "") -> RegistryError:
    """400: the repository name breaks the name grammar."""
    return RegistryError("NAME_INVALID", "invalid repository name", {"name": name, "reason": reason})


def name_unknown(name: str = "") -> RegistryError:
    """404: the repository is not known to the registry."""
    return RegistryError("NAME_UNKNOWN", "repository name not known to registry", {"name": name})


def size_invalid(detail: Any = None) -> RegistryError:
    """400: the body length does not match Content-Length or Content-Range."""
    return RegistryError("SIZE_INVALID", "provided length did not match content length", detail)


def unauthorized(detail: Any = None, *, headers: Mapping[str, str] | None = None) -> RegistryError:
    """401: authentication required (callers add ``WWW-Authenticate``)."""
    return RegistryError("UNAUTHORIZED", "authentication required", detail, headers=headers)


def denied(detail: Any = None) -> RegistryError:
    """403: authenticated, but not allowed to do this."""
    return RegistryError("DENIED", "requested access to the resource is denied", detail)


def unsupported(detail: Any = None, *, status: int = 405, headers: Mapping[str, str] | None = None
                ) -> RegistryError:
    """405 (or 404 for switched-off endpoints): the operation is disabled or unsupported."""
    return RegistryError("UNSUPPORTED", "the operation is unsupported", detail, status=status,
                         headers=headers)


def too_many_requests(retry_after: int = 1, detail: Mapping[str, Any] | None = None) -> RegistryError:
    """429: rate limited, with ``Retry-After`` (``detail`` may say which limit was reached)."""
    return RegistryError("TOOMANYREQUESTS", "too many requests", {"retry_after": retry_after, **(detail or {})},
                         headers={"Retry-After": str(retry_after)})


def tag_invalid(tag: str = "", reason: str = "") -> RegistryError:
    """400: the tag breaks the tag grammar."""
    return RegistryError("TAG_INVALID", "manifest tag did not match URI", {"tag": tag, "reason": reason})


def pagination_number_invalid(value: str = "") -> RegistryError:
    """400: ``n`` is not a non-negative integer."""
    return RegistryError("PAGINATION_NUMBER_INVALID", "invalid number of results requested", {"n": value})


def range_invalid(detail: Any = None, *, headers: Mapping[str, str] | None = None) -> RegistryError:
    """416: a Content-Range or Range that does not fit the upload or the blob."""
    return RegistryError("RANGE_INVALID", "invalid content range", detail, headers=headers)


def unknown_error() -> RegistryError:
    """500: an unexpected server-side failure (details go to the log, never to the client)."""
    return RegistryError("UNKNOWN", "unknown error", {})


def unavailable(detail: Any = None) -> RegistryError:
    """503: the registry cannot serve this right now."""
    return RegistryError("UNAVAILABLE", "service unavailable", detail)


def insufficient_storage(reason: str) -> RegistryError:
    """507: the server cannot store the request (full disk, quota): its problem, not the client's."""
    return RegistryError("UNKNOWN", "insufficient storage", {"reason": reason}, status=507)
