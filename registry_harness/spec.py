"""The protocol's vocabulary: name/tag/digest grammars, media types and error codes.

One place for the grammar of the OCI Distribution Spec and the Docker Registry HTTP API V2,
shared by the reference server (to validate input) and the suite (to judge answers).
"""

from __future__ import annotations

import re
import time
from email.utils import parsedate_to_datetime

API_VERSION_HEADER = "Docker-Distribution-API-Version"
API_VERSION = "registry/2.0"

# Repository names: path components of lowercase alphanumerics joined by separators.
NAME_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
NAME_RE = re.compile(rf"^{NAME_COMPONENT}(?:/{NAME_COMPONENT})*$")
NAME_MAX_LENGTH = 255
TAG_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")
DIGEST_RE = re.compile(r"^(?P<algorithm>[a-z0-9]+(?:[.+_-][a-z0-9]+)*):(?P<hex>[a-zA-Z0-9=_-]+)$")
DIGEST_HEX_LENGTHS = {"sha256": 64, "sha512": 128}


def valid_name(name: str) -> bool:
    """True when ``name`` is a repository name the spec allows (grammar and length)."""
    return len(name) <= NAME_MAX_LENGTH and bool(NAME_RE.match(name))


def valid_tag(tag: str) -> bool:
    """True when ``tag`` matches the spec's tag grammar (at most 128 characters)."""
    return bool(TAG_RE.match(tag))


def looks_like_digest(reference: str) -> bool:
    """True when a manifest reference is meant as a digest (``algorithm:hex``) rather than a tag."""
    return ":" in reference


# Media types.
DOCKER_MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST_V1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_MANIFEST_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_EMPTY_JSON = b"{}"
OCI_NONDISTRIBUTABLE_LAYER = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"

MANIFEST_MEDIA_TYPES = (
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST_V2,
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST_V1_SIGNED,
    DOCKER_MANIFEST_V1,
)
INDEX_MEDIA_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST)
SCHEMA1_MEDIA_TYPES = (DOCKER_MANIFEST_V1_SIGNED, DOCKER_MANIFEST_V1)

# Error codes of the spec (OCI list, then the Docker-only ones) and their usual statuses.
ERROR_STATUS = {
    "BLOB_UNKNOWN": 404,
    "BLOB_UPLOAD_INVALID": 400,
    "BLOB_UPLOAD_UNKNOWN": 404,
    "DIGEST_INVALID": 400,
    "MANIFEST_BLOB_UNKNOWN": 400,
    "MANIFEST_INVALID": 400,
    "MANIFEST_UNKNOWN": 404,
    "NAME_INVALID": 400,
    "NAME_UNKNOWN": 404,
    "SIZE_INVALID": 400,
    "UNAUTHORIZED": 401,
    "DENIED": 403,
    "UNSUPPORTED": 405,
    "TOOMANYREQUESTS": 429,
    "TAG_INVALID": 400,
    "MANIFEST_UNVERIFIED": 400,
    "PAGINATION_NUMBER_INVALID": 400,
    "RANGE_INVALID": 416,
    "UNKNOWN": 500,
    "UNAVAILABLE": 503,
}
OCI_ERROR_CODES = frozenset(list(ERROR_STATUS)[:14])
ERROR_CODES = frozenset(ERROR_STATUS)


_DELTA_SECONDS_RE = re.compile(r"^[0-9]+$")


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (RFC 9110 §10.2.3: delta-seconds or an
    HTTP-date), or None when it is absent or malformed. A date in the past means 0."""
    text = (value or "").strip()
    if not text:
        return None
    if _DELTA_SECONDS_RE.match(text):
        return float(int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None or not text.endswith("GMT"):
        return None  # an HTTP-date is always in GMT
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
