"""The narrow storage interface behind the registry: blobs, repository links, uploads,
manifests, tags and the referrers index.

Blobs are content-addressed and stored once; a repository sees a blob only through a link,
which is how repository isolation works. Implementations must make every completed write
atomic: a reader sees the old state or the new one, never a partial file.
Names, tags, digests and upload ids reach this layer already validated.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class UploadInfo:
    """One upload session: its id, repository, digest algorithm and timestamps (epoch seconds)."""

    uuid: str
    repo: str
    algorithm: str = "sha256"
    started: float = field(default_factory=time.time)


@dataclass(frozen=True)
class ManifestRecord:
    """A stored manifest: its digest, the media type it was pushed with, and its exact bytes."""

    digest: str
    media_type: str
    body: bytes


class UploadSink(ABC):
    """Blocking writer for an upload's data; called from worker threads, one request at a time."""

    @abstractmethod
    def write(self, data: bytes) -> None:
        """Append ``data`` to the upload."""

    @abstractmethod
    def truncate(self, size: int) -> None:
        """Drop everything after ``size`` bytes (undo a failed request)."""

    @abstractmethod
    def close(self) -> None:
        """Release the underlying file handle, if any."""


class Storage(ABC):
    """What the handlers need from a store; see ``memory.py`` and ``filesystem.py``."""

    # Blobs (global content store) -------------------------------------------------------------
    @abstractmethod
    def blob_size(self, digest: str) -> int | None:
        """Size of a stored blob, or None when the content is not stored at all."""

    def blob_path(self, digest: str) -> str | None:
        """A filesystem path to serve the blob with sendfile, or None (memory store)."""
        return None

    @abstractmethod
    def blob_read(self, digest: str, offset: int = 0, length: int | None = None) -> bytes:
        """Bytes of a stored blob (whole, or ``length`` bytes from ``offset``)."""

    @abstractmethod
    async def blob_put(self, digest: str, data: bytes) -> None:
        """Store small content directly under its (already verified) digest."""

    # Repository links -------------------------------------------------------------------------
    @abstractmethod
    def repo_has_blob(self, repo: str, digest: str) -> bool:
        """True when the repository uploaded, mounted or otherwise linked the blob."""

    @abstractmethod
    async def link_blob(self, repo: str, digest: str) -> None:
        """Make a stored blob readable in ``repo``."""

    @abstractmethod
    async def unlink_blob(self, repo: str, digest: str) -> bool:
        """Remove a repository's link to a blob; False when there was none."""

    def any_repo_has_blob(self, digest: str) -> bool:
        """True when some repository links the blob (mount without ``from``)."""
        return any(self.repo_has_blob(repo, digest) for repo in self.repositories())

    # Uploads ------------------------------------------------------------------------------------
    @abstractmethod
    async def upload_create(self, repo: str, algorithm: str) -> UploadInfo:
        """Open a new, empty upload session."""

    @abstractmethod
    def upload_get(self, uuid: str) -> UploadInfo | None:
        """The session with this id, or None."""

    @abstractmethod
    def upload_size(self, info: UploadInfo) -> int:
        """Bytes received so far."""

    @abstractmethod
    def upload_touched(self, info: UploadInfo) -> float:
        """Epoch seconds of the session's last activity."""

    @abstractmethod
    def upload_sink(self, info: UploadInfo) -> UploadSink:
        """A writer appending to the session's data."""

    @abstractmethod
    def upload_chunks(self, info: UploadInfo, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """The session's data so far, in chunks (blocking; for re-hashing)."""

    @abstractmethod
    async def upload_commit(self, info: UploadInfo, digest: str) -> None:
        """Move verified upload data into the blob store under ``digest``, link it, end the session."""

    @abstractmethod
    async def upload_delete(self, uuid: str) -> bool:
        """End a session and drop its data; False when it did not exist."""

    @abstractmethod
    def uploads(self) -> list[UploadInfo]:
        """Every open session (for expiry sweeps)."""

    # Manifests and tags ---------------------------------------------------------------------------
    @abstractmethod
    def manifest_get(self, repo: str, digest: str) -> ManifestRecord | None:
        """The manifest stored under ``digest`` in ``repo``, or None."""

    @abstractmethod
    async def manifest_put(self, repo: str, record: ManifestRecord, tags: list[str],
                           subject: str | None, descriptor: dict | None) -> None:
        """Store a manifest, then point ``tags`` at it, then index it as a referrer of ``subject``."""

    @abstractmethod
    async def manifest_delete(self, repo: str, digest: str, subject: str | None) -> bool:
        """Delete a manifest, every tag pointing at it, and its referrers entry."""

    @abstractmethod
    def tag_get(self, repo: str, tag: str) -> str | None:
        """The digest a tag points at, or None."""

    @abstractmethod
    async def tag_delete(self, repo: str, tag: str) -> bool:
        """Remove a tag (the manifest stays); False when there was no such tag."""

    @abstractmethod
    def tags(self, repo: str) -> list[str]:
        """Every tag of the repository, sorted."""

    @abstractmethod
    def referrers(self, repo: str, subject: str) -> list[dict]:
        """Descriptors of the manifests whose ``subject`` is ``subject``, sorted by digest."""

    # Repositories -------------------------------------------------------------------------------
    @abstractmethod
    def repositories(self) -> list[str]:
        """Every repository holding at least one blob link, manifest or tag, sorted."""

    @abstractmethod
    def repo_exists(self, repo: str) -> bool:
        """True when the repository holds anything."""
