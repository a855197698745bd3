"""Server configuration: where to store data and which protocol features are switched on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_MAX_MANIFEST_BYTES = 4 * 1024 * 1024
DEFAULT_UPLOAD_TTL = 3600.0
DEFAULT_REFERRERS_PAGE = 100
DEFAULT_MAX_UPLOADS = 4096  # open upload sessions in total (each costs a directory, two files)
DEFAULT_MAX_UPLOADS_PER_REPO = 512  # ... and per repository


@dataclass
class ServerConfig:
    """Everything ``create_app`` needs; each switch lets a suite be tested against a variant."""

    root: Path = Path("./data")
    storage: str = "filesystem"  # "filesystem" or "memory"
    delete_enabled: bool = True  # --no-delete: manifest and blob DELETE answer 405 UNSUPPORTED
    read_only: bool = False  # --read-only: every write answers 405 UNSUPPORTED
    referrers_enabled: bool = True  # --no-referrers: referrers API 404, no OCI-Subject header
    catalog_enabled: bool = True  # --no-catalog: _catalog answers 404
    schema1_compat: bool = False  # convert schema2 to signed schema1 for old clients, as Distribution 2.x
    max_manifest_bytes: int = DEFAULT_MAX_MANIFEST_BYTES
    chunk_min_length: int | None = None  # advertised as OCI-Chunk-Min-Length on upload POST
    upload_ttl: float = DEFAULT_UPLOAD_TTL  # seconds of inactivity before an upload session expires
    referrers_page_size: int = DEFAULT_REFERRERS_PAGE
    max_uploads: int = DEFAULT_MAX_UPLOADS  # open sessions in total; beyond: 429 TOOMANYREQUESTS (0 = no cap)
    max_uploads_per_repo: int = DEFAULT_MAX_UPLOADS_PER_REPO  # open sessions per repository (0 = no cap)
    auth: Any = None  # authentication settings, wired in by reference_server.auth
    redirect_blobs: str | None = None  # --redirect-blobs HOST: blob reads answer 307 to a listener on HOST
    rate_limit: float | None = None  # --rate-limit N: requests per second per client, beyond that 429
