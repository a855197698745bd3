"""Directory storage: crash-safe files under one root.

Layout under ``root``::

    blobs/<alg>/<hex[:2]>/<hex>                      blob content, stored once
    repositories/<name>/_blobs/<alg>-<hex>           empty link: the blob is readable in <name>
    repositories/<name>/_manifests/<alg>-<hex>       "<media type>\\n" + manifest bytes
    repositories/<name>/_tags/<tag>                  the digest the tag points at
    repositories/<name>/_referrers/<alg>-<hex>/<alg>-<hex>.json   referrer descriptors
    uploads/<uuid>/info.json, uploads/<uuid>/data    open upload sessions

Every file becomes visible through ``rename`` of a fsynced temporary file in the same
directory, followed by a fsync of the directory, so after ``kill -9`` a reader finds either the
old file or the complete new one. Blob content only enters ``blobs/`` by renaming a finished,
verified upload, so a partial upload is never visible. Temporary files start with ``.tmp-``
and are swept at startup.

Tags and small manifests are also kept in a bounded in-memory cache, written through on every
change made by this process (after the files are durable) and dropped on delete; the files stay
the truth, and a fresh process starts with an empty cache. One server process owns a root.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import shutil
import time
import uuid as uuidlib
from collections.abc import Callable, Iterator

from reference_server.storage.base import ManifestRecord, Storage, UploadInfo, UploadSink
from reference_server.storage.cache import LruCache

_COMPONENTS = ("_blobs", "_manifests", "_tags")
CACHED_TAGS = 16384  # (repository, tag) -> digest entries kept in memory
CACHED_MANIFESTS = 4096  # manifest records kept in memory ...
CACHED_MANIFEST_BYTES = 32 << 20  # ... holding at most this many body bytes in total
CACHED_MANIFEST_MAX = 256 << 10  # larger manifests are always read from their file
WRITEBACK_STEP = 8 << 20  # upload bytes after which the kernel is asked to start writing them out
SYNC_FILE_RANGE_WRITE = 2  # from <fcntl.h>: start writeback of dirty pages, do not wait


def _find_sync_file_range() -> Callable[..., int] | None:
    """Linux's ``sync_file_range`` through ctypes (os does not offer it), or None elsewhere."""
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    function.restype = ctypes.c_int
    return function


_sync_file_range = _find_sync_file_range()


def _flat(digest: str) -> str:
    """``sha256:abc`` -> ``sha256-abc`` (a file name)."""
    return digest.replace(":", "-", 1)


def _unflat(name: str) -> str:
    return name.replace("-", ":", 1)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _makedirs(path: str) -> None:
    """Create ``path`` and its missing parents, fsyncing each parent that gained an entry."""
    if os.path.isdir(path):
        return
    parent = os.path.dirname(path)
    _makedirs(parent)
    try:
        os.mkdir(path)
    except FileExistsError:
        return
    _fsync_dir(parent)


def _atomic_write(path: str, data: bytes, durable: bool = True) -> None:
    """Write ``data`` to ``path`` so that readers never see a partial file, even after a crash;
    ``durable`` also fsyncs, so the new content survives a power cut once this returns."""
    directory = os.path.dirname(path)
    _makedirs(directory)
    tmp = os.path.join(directory, f".tmp-{uuidlib.uuid4().hex}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        # A full disk (or any failure) must not leave the partial file behind to keep it full.
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        _fsync_dir(directory)


def _unlink(path: str) -> bool:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    _fsync_dir(os.path.dirname(path))
    return True


def _has_entries(path: str) -> bool:
    try:
        with os.scandir(path) as entries:
            return any(not entry.name.startswith(".") for entry in entries)
    except (FileNotFoundError, NotADirectoryError):
        return False


def _read(path: str) -> bytes | None:
    """The whole file, or None when it is missing. Plain os calls: for these small files a buffered
    ``open`` costs more than the read, and a manifest GET by tag reads two of them."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        parts = []
        while chunk := os.read(fd, 1 << 16):
            parts.append(chunk)
        return b"".join(parts)
    finally:
        os.close(fd)


class _FileSink(UploadSink):
    """Appends to an upload's data file, and every ``WRITEBACK_STEP`` bytes asks the kernel to start
    writing them to disk, so the fsync at commit (which still happens) has little left to wait for."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        self._size = self._flushed = os.fstat(self._fd).st_size

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]
        self._size += len(data)
        if self._size - self._flushed >= WRITEBACK_STEP:
            if _sync_file_range is not None:  # a hint only: failure changes nothing, commit fsyncs
                _sync_file_range(self._fd, self._flushed, self._size - self._flushed, SYNC_FILE_RANGE_WRITE)
            self._flushed = self._size

    def truncate(self, size: int) -> None:
        os.ftruncate(self._fd, size)
        self._size = size
        self._flushed = min(self._flushed, size)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class FilesystemStorage(Storage):
    """Files under ``root``; see the module docstring for the layout and the crash-safety rules."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = os.path.abspath(os.fspath(root))
        for part in ("blobs", "repositories", "uploads"):
            _makedirs(os.path.join(self.root, part))
        self._sweep_temporaries()
        self._tag_cache: LruCache[tuple[str, str], str] = LruCache(CACHED_TAGS)
        self._manifest_cache: LruCache[tuple[str, str], ManifestRecord] = LruCache(
            CACHED_MANIFESTS, CACHED_MANIFEST_BYTES, lambda record: len(record.body))

    # Paths (every argument was validated by the caller; _path double-checks containment)
    def _path(self, *parts: str) -> str:
        path = os.path.normpath(os.path.join(self.root, *parts))
        if not path.startswith(self.root + os.sep):
            raise ValueError(f"path escapes the storage root: {parts!r}")
        return path

    def _blob(self, digest: str) -> str:
        algorithm, hex_part = digest.split(":", 1)
        return self._path("blobs", algorithm, hex_part[:2], hex_part)

    def _repo(self, repo: str, *parts: str) -> str:
        return self._path("repositories", repo, *parts)

    def _sweep_temporaries(self) -> None:
        """Remove temporary files a crash left behind (they were never visible)."""
        for directory, _dirs, files in os.walk(self.root):
            for name in files:
                if name.startswith(".tmp-"):
                    try:
                        os.unlink(os.path.join(directory, name))
                    except OSError:
                        pass

    # Blobs
    def blob_size(self, digest: str) -> int | None:
        try:
            return os.stat(self._blob(digest)).st_size
        except (FileNotFoundError, NotADirectoryError):
            return None

    def blob_path(self, digest: str) -> str | None:
        return self._blob(digest)

    def blob_read(self, digest: str, offset: int = 0, length: int | None = None) -> bytes:
        with open(self._blob(digest), "rb") as handle:
            handle.seek(offset)
            return handle.read() if length is None else handle.read(length)

    async def blob_put(self, digest: str, data: bytes) -> None:
        await asyncio.to_thread(_atomic_write, self._blob(digest), bytes(data))

    def repo_has_blob(self, repo: str, digest: str) -> bool:
        return os.path.exists(self._repo(repo, "_blobs", _flat(digest)))

    def _link_sync(self, repo: str, digest: str) -> None:
        link = self._repo(repo, "_blobs", _flat(digest))
        if os.path.exists(link):
            return
        _makedirs(os.path.dirname(link))
        os.close(os.open(link, os.O_WRONLY | os.O_CREAT, 0o644))
        _fsync_dir(os.path.dirname(link))

    async def link_blob(self, repo: str, digest: str) -> None:
        await asyncio.to_thread(self._link_sync, repo, digest)

    async def unlink_blob(self, repo: str, digest: str) -> bool:
        return await asyncio.to_thread(_unlink, self._repo(repo, "_blobs", _flat(digest)))

    # Uploads
    def _upload(self, uuid: str, *parts: str) -> str:
        return self._path("uploads", uuid, *parts)

    def _create_sync(self, info: UploadInfo) -> None:
        directory = self._upload(info.uuid)
        os.mkdir(directory)
        try:
            open(os.path.join(directory, "data"), "wb").close()
            meta = {"repo": info.repo, "algorithm": info.algorithm, "started": info.started}
            # Not fsynced: a session lost to a power cut is simply unknown, never wrong.
            _atomic_write(os.path.join(directory, "info.json"), json.dumps(meta).encode(), durable=False)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)  # a half-made session (full disk) goes
            raise

    async def upload_create(self, repo: str, algorithm: str) -> UploadInfo:
        info = UploadInfo(uuid=str(uuidlib.uuid4()), repo=repo, algorithm=algorithm)
        self._create_sync(info)  # no fsync involved: cheaper inline than in a thread
        return info

    def upload_get(self, uuid: str) -> UploadInfo | None:
        raw = _read(self._upload(uuid, "info.json"))
        if raw is None or not os.path.exists(self._upload(uuid, "data")):
            return None
        try:
            meta = json.loads(raw)
            return UploadInfo(uuid=uuid, repo=meta["repo"], algorithm=meta["algorithm"],
                              started=float(meta["started"]))
        except (ValueError, KeyError, TypeError):
            return None

    def upload_size(self, info: UploadInfo) -> int:
        try:
            return os.stat(self._upload(info.uuid, "data")).st_size
        except FileNotFoundError:
            return 0

    def upload_touched(self, info: UploadInfo) -> float:
        try:
            return max(info.started, os.stat(self._upload(info.uuid, "data")).st_mtime)
        except FileNotFoundError:
            return info.started

    def upload_sink(self, info: UploadInfo) -> UploadSink:
        return _FileSink(self._upload(info.uuid, "data"))

    def upload_chunks(self, info: UploadInfo, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        with open(self._upload(info.uuid, "data"), "rb") as handle:
            while chunk := handle.read(chunk_size):
                yield chunk

    def _commit_sync(self, info: UploadInfo, digest: str) -> None:
        data = self._upload(info.uuid, "data")
        target = self._blob(digest)
        if not os.path.exists(target):
            fd = os.open(data, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            _makedirs(os.path.dirname(target))
            os.replace(data, target)
            _fsync_dir(os.path.dirname(target))
        self._link_sync(info.repo, digest)
        shutil.rmtree(self._upload(info.uuid), ignore_errors=True)

    async def upload_commit(self, info: UploadInfo, digest: str) -> None:
        await asyncio.to_thread(self._commit_sync, info, digest)

    def _delete_upload_sync(self, uuid: str) -> bool:
        directory = self._upload(uuid)
        if not os.path.isdir(directory):
            return False
        shutil.rmtree(directory, ignore_errors=True)
        return True

    async def upload_delete(self, uuid: str) -> bool:
        return await asyncio.to_thread(self._delete_upload_sync, uuid)

    def uploads(self) -> list[UploadInfo]:
        found = []
        for name in os.listdir(self._path("uploads")):
            info = self.upload_get(name) if not name.startswith(".") else None
            if info is not None:
                found.append(info)
            elif not name.startswith("."):
                # A session whose info file never landed (crash during creation).
                directory = self._upload(name)
                try:
                    if time.time() - os.stat(directory).st_mtime > 60:
                        shutil.rmtree(directory, ignore_errors=True)
                except FileNotFoundError:
                    pass
        return found

    # Manifests and tags
    def manifest_get(self, repo: str, digest: str) -> ManifestRecord | None:
        record = self._manifest_cache.get((repo, digest))
        if record is not None:
            return record
        raw = _read(self._repo(repo, "_manifests", _flat(digest)))
        if raw is None:
            return None
        media_type, _, body = raw.partition(b"\n")
        record = ManifestRecord(digest=digest, media_type=media_type.decode(), body=body)
        self._remember_manifest(repo, record)
        return record

    def _remember_manifest(self, repo: str, record: ManifestRecord) -> None:
        if len(record.body) <= CACHED_MANIFEST_MAX:
            self._manifest_cache.put((repo, record.digest), record)

    def _manifest_put_sync(self, repo: str, record: ManifestRecord, tags: list[str],
                           subject: str | None, descriptor: dict | None) -> None:
        content = record.media_type.encode() + b"\n" + record.body
        _atomic_write(self._repo(repo, "_manifests", _flat(record.digest)), content)
        for tag in tags:
            _atomic_write(self._repo(repo, "_tags", tag), record.digest.encode())
        if subject and descriptor is not None:
            entry = self._repo(repo, "_referrers", _flat(subject), _flat(record.digest) + ".json")
            _atomic_write(entry, json.dumps(descriptor).encode())

    async def manifest_put(self, repo: str, record: ManifestRecord, tags: list[str],
                           subject: str | None, descriptor: dict | None) -> None:
        try:
            await asyncio.to_thread(self._manifest_put_sync, repo, record, tags, subject, descriptor)
        except BaseException:
            # Some files may have changed: forget what they said, the next read goes to disk.
            self._manifest_cache.pop((repo, record.digest))
            for tag in tags:
                self._tag_cache.pop((repo, tag))
            raise
        self._remember_manifest(repo, record)
        for tag in tags:
            self._tag_cache.put((repo, tag), record.digest)

    def _manifest_delete_sync(self, repo: str, digest: str, subject: str | None) -> bool:
        path = self._repo(repo, "_manifests", _flat(digest))
        if not os.path.exists(path):
            return False
        tag_dir = self._repo(repo, "_tags")
        for tag in self.tags(repo):
            if _read(os.path.join(tag_dir, tag)) == digest.encode():
                _unlink(os.path.join(tag_dir, tag))
        if subject:
            _unlink(self._repo(repo, "_referrers", _flat(subject), _flat(digest) + ".json"))
        return _unlink(path)

    async def manifest_delete(self, repo: str, digest: str, subject: str | None) -> bool:
        try:
            return await asyncio.to_thread(self._manifest_delete_sync, repo, digest, subject)
        finally:
            self._manifest_cache.pop((repo, digest))
            self._tag_cache.drop_where(lambda key, value: key[0] != repo or value != digest)

    def tag_get(self, repo: str, tag: str) -> str | None:
        digest = self._tag_cache.get((repo, tag))
        if digest is not None:
            return digest
        raw = _read(self._repo(repo, "_tags", tag))
        if raw is None:
            return None
        digest = raw.decode()
        self._tag_cache.put((repo, tag), digest)
        return digest

    async def tag_delete(self, repo: str, tag: str) -> bool:
        try:
            return await asyncio.to_thread(_unlink, self._repo(repo, "_tags", tag))
        finally:
            self._tag_cache.pop((repo, tag))

    def tags(self, repo: str) -> list[str]:
        try:
            names = os.listdir(self._repo(repo, "_tags"))
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(name for name in names if not name.startswith("."))

    def referrers(self, repo: str, subject: str) -> list[dict]:
        directory = self._repo(repo, "_referrers", _flat(subject))
        try:
            names = sorted(name for name in os.listdir(directory) if name.endswith(".json")
                           and not name.startswith("."))
        except (FileNotFoundError, NotADirectoryError):
            return []
        found = []
        for name in names:
            digest = _unflat(name[: -len(".json")])
            raw = _read(os.path.join(directory, name))
            if raw is None or not os.path.exists(self._repo(repo, "_manifests", _flat(digest))):
                continue
            try:
                found.append(json.loads(raw))
            except ValueError:
                continue
        return found

    # Repositories
    def repositories(self) -> list[str]:
        top = self._path("repositories")
        found = []
        for directory, dirs, _files in os.walk(top):
            if any(_has_entries(os.path.join(directory, part)) for part in _COMPONENTS):
                found.append(os.path.relpath(directory, top).replace(os.sep, "/"))
            dirs[:] = [name for name in dirs if not name.startswith(("_", "."))]
        return sorted(found)

    def repo_exists(self, repo: str) -> bool:
        return any(_has_entries(self._repo(repo, part)) for part in _COMPONENTS)
