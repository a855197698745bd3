"""In-memory storage for throwaway runs and fast tests: dictionaries, nothing survives a restart."""

from __future__ import annotations

import time
import uuid as uuidlib
from collections.abc import Iterator

from reference_server.storage.base import ManifestRecord, Storage, UploadInfo, UploadSink


class _MemoryUpload:
    """Data and activity time of one in-memory upload session."""

    def __init__(self, info: UploadInfo) -> None:
        self.info = info
        self.chunks: list[bytes] = []
        self.size = 0
        self.touched = time.time()

    def data(self) -> bytes:
        """Everything received so far, as one bytes object."""
        if len(self.chunks) > 1:
            self.chunks = [b"".join(self.chunks)]
        return self.chunks[0] if self.chunks else b""


class _MemorySink(UploadSink):
    def __init__(self, upload: _MemoryUpload) -> None:
        self._upload = upload

    def write(self, data: bytes) -> None:
        self._upload.chunks.append(bytes(data))
        self._upload.size += len(data)
        self._upload.touched = time.time()

    def truncate(self, size: int) -> None:
        self._upload.chunks = [self._upload.data()[:size]]
        self._upload.size = size

    def close(self) -> None:
        pass


class _Repo:
    """Everything one repository holds."""

    def __init__(self) -> None:
        self.blobs: set[str] = set()
        self.manifests: dict[str, ManifestRecord] = {}
        self.tags: dict[str, str] = {}
        self.referrers: dict[str, dict[str, dict]] = {}

    def empty(self) -> bool:
        return not (self.blobs or self.manifests or self.tags)


class MemoryStorage(Storage):
    """Dictionaries behind the storage interface; operations are atomic by construction."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}
        self._repos: dict[str, _Repo] = {}
        self._uploads: dict[str, _MemoryUpload] = {}

    def _repo(self, repo: str) -> _Repo:
        return self._repos.setdefault(repo, _Repo())

    def _prune(self, repo: str) -> None:
        held = self._repos.get(repo)
        if held is not None and held.empty():
            del self._repos[repo]

    # Blobs
    def blob_size(self, digest: str) -> int | None:
        data = self._blobs.get(digest)
        return None if data is None else len(data)

    def blob_read(self, digest: str, offset: int = 0, length: int | None = None) -> bytes:
        data = self._blobs[digest]
        end = len(data) if length is None else offset + length
        return data[offset:end]

    async def blob_put(self, digest: str, data: bytes) -> None:
        self._blobs[digest] = bytes(data)

    def repo_has_blob(self, repo: str, digest: str) -> bool:
        held = self._repos.get(repo)
        return held is not None and digest in held.blobs

    async def link_blob(self, repo: str, digest: str) -> None:
        self._repo(repo).blobs.add(digest)

    async def unlink_blob(self, repo: str, digest: str) -> bool:
        held = self._repos.get(repo)
        if held is None or digest not in held.blobs:
            return False
        held.blobs.discard(digest)
        self._prune(repo)
        return True

    # Uploads
    async def upload_create(self, repo: str, algorithm: str) -> UploadInfo:
        info = UploadInfo(uuid=str(uuidlib.uuid4()), repo=repo, algorithm=algorithm)
        self._uploads[info.uuid] = _MemoryUpload(info)
        return info

    def upload_get(self, uuid: str) -> UploadInfo | None:
        upload = self._uploads.get(uuid)
        return None if upload is None else upload.info

    def upload_size(self, info: UploadInfo) -> int:
        upload = self._uploads.get(info.uuid)
        return 0 if upload is None else upload.size

    def upload_touched(self, info: UploadInfo) -> float:
        upload = self._uploads.get(info.uuid)
        return 0.0 if upload is None else upload.touched

    def upload_sink(self, info: UploadInfo) -> UploadSink:
        return _MemorySink(self._uploads[info.uuid])

    def upload_chunks(self, info: UploadInfo, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        data = self._uploads[info.uuid].data()
        for start in range(0, len(data), chunk_size):
            yield bytes(data[start:start + chunk_size])

    async def upload_commit(self, info: UploadInfo, digest: str) -> None:
        upload = self._uploads.pop(info.uuid)
        self._blobs.setdefault(digest, upload.data())
        self._repo(info.repo).blobs.add(digest)

    async def upload_delete(self, uuid: str) -> bool:
        return self._uploads.pop(uuid, None) is not None

    def uploads(self) -> list[UploadInfo]:
        return [upload.info for upload in self._uploads.values()]

    # Manifests and tags
    def manifest_get(self, repo: str, digest: str) -> ManifestRecord | None:
        held = self._repos.get(repo)
        return None if held is None else held.manifests.get(digest)

    async def manifest_put(self, repo: str, record: ManifestRecord, tags: list[str],
                           subject: str | None, descriptor: dict | None) -> None:
        held = self._repo(repo)
        held.manifests[record.digest] = record
        for tag in tags:
            held.tags[tag] = record.digest
        if subject and descriptor is not None:
            held.referrers.setdefault(subject, {})[record.digest] = descriptor

    async def manifest_delete(self, repo: str, digest: str, subject: str | None) -> bool:
        held = self._repos.get(repo)
        if held is None or held.manifests.pop(digest, None) is None:
            return False
        for tag in [tag for tag, target in held.tags.items() if target == digest]:
            del held.tags[tag]
        if subject:
            held.referrers.get(subject, {}).pop(digest, None)
        self._prune(repo)
        return True

    def tag_get(self, repo: str, tag: str) -> str | None:
        held = self._repos.get(repo)
        return None if held is None else held.tags.get(tag)

    async def tag_delete(self, repo: str, tag: str) -> bool:
        held = self._repos.get(repo)
        if held is None or held.tags.pop(tag, None) is None:
            return False
        self._prune(repo)
        return True

    def tags(self, repo: str) -> list[str]:
        held = self._repos.get(repo)
        return [] if held is None else sorted(held.tags)

    def referrers(self, repo: str, subject: str) -> list[dict]:
        held = self._repos.get(repo)
        if held is None:
            return []
        found = held.referrers.get(subject, {})
        return [found[digest] for digest in sorted(found) if digest in held.manifests]

    # Repositories
    def repositories(self) -> list[str]:
        return sorted(name for name, held in self._repos.items() if not held.empty())

    def repo_exists(self, repo: str) -> bool:
        held = self._repos.get(repo)
        return held is not None and not held.empty()
