"""Blob reads and deletes (end-2, end-10): GET/HEAD with Range and If-None-Match, served with
sendfile from the filesystem store; DELETE unlinks the blob from one repository."""

from __future__ import annotations

import asyncio
import os
import re
from typing import IO

from aiohttp import web

from reference_server import errors
from reference_server.context import RegistryContext, require_digest
from registry_harness.spec import SCHEMA1_MEDIA_TYPES

RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$", re.ASCII)
FALLBACK_CHUNK = 1 << 20


class SendfileResponse(web.StreamResponse):
    """Streams ``count`` bytes of an open file from ``offset`` with the kernel's sendfile."""

    def __init__(self, handle: IO[bytes], offset: int, count: int, *, status: int,
                 headers: dict[str, str]) -> None:
        super().__init__(status=status, headers=headers)
        self._handle = handle
        self._offset = offset
        self._count = count
        self.content_length = count

    async def prepare(self, request: web.BaseRequest):  # type: ignore[override]
        try:
            writer = await super().prepare(request)
            if request.method == "HEAD" or self._count == 0:
                return writer
            transport = request.transport
            if transport is None:
                raise ConnectionResetError("client went away")
            loop = asyncio.get_running_loop()
            try:
                await loop.sendfile(transport, self._handle, self._offset, self._count)
            except NotImplementedError:
                await self._copy(self._offset, self._count)
            await super().write_eof()
            return writer
        finally:
            self._handle.close()

    async def _copy(self, offset: int, count: int) -> None:
        self._handle.seek(offset)
        while count > 0:
            chunk = await asyncio.to_thread(self._handle.read, min(FALLBACK_CHUNK, count))
            if not chunk:
                break
            await self.write(chunk)
            count -= len(chunk)


def _etag_matches(header: str, etag: str) -> bool:
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*":
            return True
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate.strip('"') == etag.strip('"'):
            return True
    return False


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end inclusive) of a single satisfiable range; None to serve everything.
    Raises RANGE_INVALID (416) when the range cannot be satisfied."""
    if not header:
        return None
    match = RANGE_RE.match(header.strip().replace(" ", ""))
    if not match or match.group(1) == match.group(2) == "":
        return None  # multiple or malformed ranges: serve the whole blob (allowed by RFC 9110)
    first, last = match.group(1), match.group(2)
    unsatisfiable = errors.range_invalid({"range": header[:100], "size": size},
                                         headers={"Content-Range": f"bytes */{size}"})
    if first == "":
        length = int(last)
        if length == 0 or size == 0:
            raise unsatisfiable
        return max(size - length, 0), size - 1
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if start >= size or (last != "" and int(last) < start):
        raise unsatisfiable
    return start, end


def _manifest_as_blob(ctx: RegistryContext, name: str, digest: str) -> bytes | None:
    """Manifests are content too: their bytes are readable through the blob endpoint."""
    record = ctx.storage.manifest_get(name, digest)
    if record is None or record.media_type in SCHEMA1_MEDIA_TYPES:
        return None
    return record.body


async def get_blob(request: web.Request, ctx: RegistryContext, name: str, digest: str) -> web.StreamResponse:
    """GET/HEAD /v2/<name>/blobs/<digest> : 200, 206 with Range, 304 with If-None-Match, 404."""
    digest = require_digest(digest)
    inline: bytes | None = None
    size: int | None = None
    if ctx.storage.repo_has_blob(name, digest):
        size = ctx.storage.blob_size(digest)
    if size is None:
        inline = _manifest_as_blob(ctx, name, digest)
        if inline is None:
            if not ctx.storage.repo_exists(name):
                raise errors.name_unknown(name)
            raise errors.blob_unknown(digest)
        size = len(inline)
    headers = {
        "Docker-Content-Digest": digest,
        "ETag": f'"{digest}"',
        "Accept-Ranges": "bytes",
        "Content-Type": "application/octet-stream",
        "Cache-Control": "max-age=31536000",
    }
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match and _etag_matches(if_none_match, digest):
        return web.Response(status=304, headers=headers)
    status, offset, count = 200, 0, size
    selected = _byte_range(request.headers.get("Range"), size)
    if selected is not None:
        start, end = selected
        status, offset, count = 206, start, end - start + 1
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    if inline is None:
        path = ctx.storage.blob_path(digest)
        if path is not None:
            try:
                handle = open(path, "rb")  # noqa: SIM115 - closed by SendfileResponse.prepare
            except FileNotFoundError:
                raise errors.blob_unknown(digest) from None
            if os.fstat(handle.fileno()).st_size != size:
                handle.close()
                raise errors.blob_unknown(digest)
            return SendfileResponse(handle, offset, count, status=status, headers=headers)
        inline = ctx.storage.blob_read(digest, offset, count)
        offset = 0
    # Stated outright: aiohttp leaves Content-Length out of a HEAD answer whose body is empty.
    headers["Content-Length"] = str(count)
    return web.Response(status=status, body=inline[offset:offset + count], headers=headers)


async def delete_blob(request: web.Request, ctx: RegistryContext, name: str, digest: str) -> web.StreamResponse:
    """DELETE /v2/<name>/blobs/<digest> : 202 after unlinking it from this repository."""
    if not ctx.config.delete_enabled:
        raise errors.unsupported({"reason": "deletion is disabled on this registry"})
    digest = require_digest(digest)
    if not await ctx.storage.unlink_blob(name, digest):
        if not ctx.storage.repo_exists(name):
            raise errors.name_unknown(name)
        raise errors.blob_unknown(digest)
    return web.Response(status=202, headers={"Content-Length": "0", "Docker-Content-Digest": digest})
