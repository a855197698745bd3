"""Blob uploads (end-4a/b/c, end-5, end-6, end-11, end-13, end-14).

Sessions live at ``/v2/<name>/blobs/uploads/<uuid>``: the state is in the path, never only in
the query. Bodies stream to storage in large chunks, hashed and written in a worker thread so
memory stays flat and hashing runs beside the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time

from aiohttp import web

from reference_server import errors
from reference_server.context import (
    UPLOAD_ID_RE,
    HashState,
    RegistryContext,
    require_digest,
    require_name,
)
from reference_server.storage.base import UploadInfo, UploadSink
from registry_harness.digests import SUPPORTED_ALGORITHMS

log = logging.getLogger(__name__)

CHUNK = 1 << 20  # body bytes handed to a worker thread at a time
MAX_BUFFERED = 8 << 20  # read-ahead limit while the worker is busy
SWEEP_BATCH = 256  # expired sessions deleted between two turns of the event loop
CONTENT_RANGE_RE = re.compile(r"^(?:bytes[ =])?(\d+)-(\d+)(?:/(?:\d+|\*))?$", re.ASCII)


def _location(name: str, uuid: str) -> str:
    return f"/v2/{name}/blobs/uploads/{uuid}"


def _progress_headers(name: str, uuid: str, size: int) -> dict[str, str]:
    """Location, OCI-form Range (inclusive last byte) and the upload id."""
    return {
        "Location": _location(name, uuid),
        "Range": f"0-{max(size - 1, 0)}",
        "Docker-Upload-UUID": uuid,
    }


def _created(name: str, digest: str) -> web.Response:
    return web.Response(status=201, headers={
        "Location": f"/v2/{name}/blobs/{digest}",
        "Docker-Content-Digest": digest,
        "Content-Length": "0",
    })


def _session(ctx: RegistryContext, name: str, uuid: str) -> UploadInfo:
    """The open session ``uuid`` of repository ``name``; BLOB_UPLOAD_UNKNOWN when absent or expired."""
    if not UPLOAD_ID_RE.match(uuid):
        raise errors.blob_upload_unknown(uuid[:64])
    info = ctx.storage.upload_get(uuid)
    if info is None or info.repo != name:
        raise errors.blob_upload_unknown(uuid)
    if time.time() - ctx.storage.upload_touched(info) > ctx.config.upload_ttl:
        raise errors.blob_upload_unknown(uuid)
    return info


def _idle(ctx: RegistryContext, sessions: list[UploadInfo], now: float) -> list[UploadInfo]:
    """The sessions idle for longer than the TTL (blocking: one stat per session on disk)."""
    ttl = ctx.config.upload_ttl
    return [info for info in sessions if now - ctx.storage.upload_touched(info) > ttl]


async def expire_sessions(ctx: RegistryContext) -> int:
    """Delete every session idle for longer than the TTL; return how many went.

    Never blocks the event loop for long: idle sessions are found in a worker thread, and the
    loop gets its turn after every ``SWEEP_BATCH`` deletions. A session in use is left alone."""
    stale = await asyncio.to_thread(_idle, ctx, ctx.sessions.snapshot(), time.time())
    expired = 0
    for position, info in enumerate(stale, 1):
        if not ctx.busy(info.uuid):
            async with ctx.locked(info.uuid):
                if time.time() - ctx.storage.upload_touched(info) > ctx.config.upload_ttl:
                    await ctx.storage.upload_delete(info.uuid)
                    ctx.hashes.pop(info.uuid, None)
                    ctx.sessions.discard(info.uuid)
                    expired += 1
        if position % SWEEP_BATCH == 0:
            await asyncio.sleep(0)
    return expired


def _rehash(ctx: RegistryContext, info: UploadInfo, algorithm: str) -> HashState:
    """Hash what a session holds so far (after a restart, or for a different algorithm)."""
    hasher = hashlib.new(algorithm)
    offset = 0
    for chunk in ctx.storage.upload_chunks(info):
        hasher.update(chunk)
        offset += len(chunk)
    return HashState(hasher, offset)


async def _hash_state(ctx: RegistryContext, info: UploadInfo, size: int) -> HashState:
    state = ctx.hashes.get(info.uuid)
    if state is None or state.offset != size or state.hasher.name != info.algorithm:
        if size == 0:
            state = HashState(hashlib.new(info.algorithm), 0)
        else:
            state = await asyncio.to_thread(_rehash, ctx, info, info.algorithm)
        ctx.hashes[info.uuid] = state
    return state


def _absorb(sink: UploadSink, state: HashState, batch: list[bytes]) -> None:
    """Write and hash a batch of body chunks (run in a worker thread for large bodies)."""
    for data in batch:
        sink.write(data)
        state.hasher.update(data)
        state.offset += len(data)


class _BodyCutShort(Exception):
    """Reading the request body failed: the client's side of an upload broke off."""


def _declared_length(request: web.Request) -> int | None:
    raw = request.headers.get("Content-Length")
    if raw is None:
        return None
    if not (raw.isascii() and raw.strip().isdigit()):
        raise errors.size_invalid({"reason": "malformed Content-Length"})
    return int(raw)


async def _receive(request: web.Request, ctx: RegistryContext, info: UploadInfo, *,
                   allow_range: bool = True) -> int:
    """Append the request body to the session (checking Content-Range); return the new size.

    On any failure the session is cut back to where it was, so its Range stays truthful.
    """
    size = ctx.storage.upload_size(info)
    expected: int | None = None
    content_range = request.headers.get("Content-Range")
    declared = _declared_length(request)
    if content_range is not None and allow_range:
        match = CONTENT_RANGE_RE.match(content_range.strip())
        progress = _progress_headers(info.repo, info.uuid, size)
        if not match:
            raise errors.range_invalid({"content_range": content_range[:100], "reason": "malformed"},
                                       headers=progress)
        start, end = int(match.group(1)), int(match.group(2))
        if start != size or end < start:
            raise errors.range_invalid(
                {"content_range": content_range[:100], "offset": size,
                 "reason": "chunk must continue at the current offset"}, headers=progress)
        expected = end - start + 1
        if declared is not None and declared != expected:
            raise errors.size_invalid({"content_length": declared, "content_range": content_range})
    if request.content_length == 0 or (declared is None and not request.body_exists):
        if expected not in (None, 0):
            raise errors.size_invalid({"expected": expected, "received": 0})
        return size

    state = await _hash_state(ctx, info, size)
    sink = ctx.storage.upload_sink(info)
    loop = asyncio.get_running_loop()
    pending: asyncio.Future | None = None
    buffered: list[bytes] = []
    buffered_len = 0
    received = 0
    try:
        # Read ahead while a worker thread hashes and writes the previous batch; batches stay
        # in order because only one is ever in flight.
        while True:
            try:
                chunk = await request.content.readany()
            except Exception as exc:  # noqa: BLE001 - any failure to read the body is the client's
                raise _BodyCutShort(repr(exc)) from None
            if chunk:
                buffered.append(chunk)
                buffered_len += len(chunk)
                received += len(chunk)
            eof = not chunk
            if pending is not None and (pending.done() or eof or buffered_len >= MAX_BUFFERED):
                await pending
                pending = None
            if buffered and pending is None and (buffered_len >= CHUNK or eof):
                batch, buffered, buffered_len = buffered, [], 0
                if eof and received < CHUNK:
                    _absorb(sink, state, batch)  # a small body: cheaper than a thread hop
                else:
                    pending = loop.run_in_executor(None, _absorb, sink, state, batch)
            if eof:
                break
        if pending is not None:
            await pending
            pending = None
        if expected is not None and received != expected:
            raise errors.size_invalid({"expected": expected, "received": received})
        if declared is not None and received != declared:
            raise errors.size_invalid({"content_length": declared, "received": received})
    except BaseException as exc:
        if pending is not None:
            try:
                await asyncio.shield(pending)
            except Exception:  # noqa: BLE001 - the original failure is what matters
                pass
        await asyncio.to_thread(sink.truncate, size)
        ctx.hashes.pop(info.uuid, None)
        sink.close()
        if not isinstance(exc, _BodyCutShort):
            raise  # a spec error, a cancellation, or the storage failing (the server's problem)
        log.info("upload body cut short: %s", exc)
        raise errors.size_invalid({"reason": "body shorter than Content-Length"}) from None
    sink.close()
    return size + received


async def _finish(ctx: RegistryContext, info: UploadInfo, digest: str) -> None:
    """Verify the session's content against ``digest``, then commit it; DIGEST_INVALID cancels."""
    size = ctx.storage.upload_size(info)
    algorithm = digest.split(":", 1)[0]
    state = ctx.hashes.get(info.uuid)
    if state is None or state.offset != size or state.hasher.name != algorithm:
        state = await asyncio.to_thread(_rehash, ctx, info, algorithm)
    computed = f"{algorithm}:{state.hasher.hexdigest()}"
    ctx.hashes.pop(info.uuid, None)
    if computed != digest:
        await ctx.storage.upload_delete(info.uuid)
        ctx.sessions.discard(info.uuid)
        raise errors.digest_invalid({"expected": digest, "computed": computed})
    try:
        await ctx.storage.upload_commit(info, digest)
    finally:
        if ctx.storage.upload_get(info.uuid) is None:  # committed, or its data already moved
            ctx.sessions.discard(info.uuid)


def _algorithm(request: web.Request) -> str:
    algorithm = request.query.get("digest-algorithm", "sha256")
    if algorithm not in SUPPORTED_ALGORITHMS:
        raise errors.digest_invalid({"digest-algorithm": algorithm[:64], "supported": list(SUPPORTED_ALGORITHMS)})
    return algorithm


async def _try_mount(request: web.Request, ctx: RegistryContext, name: str) -> web.Response | None:
    """Cross-repository mount: 201 when the blob is readable in ``from`` (or, without ``from`` on
    an open registry, in any repository: content-addressed data is shared, so a client that knows
    the digest may link it); None to fall back to an ordinary upload session.

    Under authentication a mount without ``from`` always falls back: the source repository is
    unknown, so the server cannot tell whether the client may read the blob it asks to link."""
    digest = require_digest(request.query["mount"])
    source = request.query.get("from")
    if source is not None:
        require_name(source)
        readable = ctx.storage.repo_has_blob(source, digest) and ctx.can_read(request, source)
    else:
        readable = ctx.config.auth is None and ctx.storage.any_repo_has_blob(digest)
    if not readable or ctx.storage.blob_size(digest) is None:
        return None
    await ctx.storage.link_blob(name, digest)
    return _created(name, digest)


async def start_upload(request: web.Request, ctx: RegistryContext, name: str) -> web.StreamResponse:
    """POST /v2/<name>/blobs/uploads/ : open a session, mount, or take a whole blob at once."""
    if "mount" in request.query:
        mounted = await _try_mount(request, ctx, name)
        if mounted is not None:
            return mounted
    digest_param = request.query.get("digest") if "mount" not in request.query else None
    digest = require_digest(digest_param) if digest_param is not None else None
    algorithm = digest.split(":", 1)[0] if digest else _algorithm(request)
    ctx.sessions.admit(name, ctx.config.max_uploads_per_repo, ctx.config.max_uploads)
    info = await ctx.storage.upload_create(name, algorithm)
    ctx.sessions.add(info)
    if digest is not None:
        try:
            async with ctx.locked(info.uuid):
                await _receive(request, ctx, info, allow_range=False)
                await _finish(ctx, info, digest)
        except BaseException:
            await ctx.storage.upload_delete(info.uuid)
            ctx.hashes.pop(info.uuid, None)
            ctx.sessions.discard(info.uuid)
            raise
        return _created(name, digest)
    headers = {**_progress_headers(name, info.uuid, 0), "Content-Length": "0"}
    if ctx.config.chunk_min_length:
        headers["OCI-Chunk-Min-Length"] = str(ctx.config.chunk_min_length)
    return web.Response(status=202, headers=headers)


async def upload_status(request: web.Request, ctx: RegistryContext, name: str, uuid: str) -> web.StreamResponse:
    """GET <location> : 204 with Location and Range of what arrived so far."""
    info = _session(ctx, name, uuid)
    size = ctx.storage.upload_size(info)
    return web.Response(status=204, headers=_progress_headers(name, uuid, size))


async def patch_upload(request: web.Request, ctx: RegistryContext, name: str, uuid: str) -> web.StreamResponse:
    """PATCH <location> : append a streamed or Content-Range chunk; 202 with the new Range."""
    info = _session(ctx, name, uuid)
    async with ctx.locked(uuid):
        info = _session(ctx, name, uuid)
        size = await _receive(request, ctx, info)
    headers = {**_progress_headers(name, uuid, size), "Content-Length": "0"}
    return web.Response(status=202, headers=headers)


async def put_upload(request: web.Request, ctx: RegistryContext, name: str, uuid: str) -> web.StreamResponse:
    """PUT <location>?digest= : take an optional last chunk, verify, commit; 201 with the digest."""
    info = _session(ctx, name, uuid)
    raw = request.query.get("digest")
    if raw is None:
        raise errors.digest_invalid({"reason": "the closing PUT needs ?digest="})
    digest = require_digest(raw)
    async with ctx.locked(uuid):
        info = _session(ctx, name, uuid)
        await _receive(request, ctx, info)
        await _finish(ctx, info, digest)
    return _created(name, digest)


async def cancel_upload(request: web.Request, ctx: RegistryContext, name: str, uuid: str) -> web.StreamResponse:
    """DELETE <location> : drop the session; 204."""
    _session(ctx, name, uuid)
    async with ctx.locked(uuid):
        deleted = await ctx.storage.upload_delete(uuid)
    ctx.hashes.pop(uuid, None)
    ctx.sessions.discard(uuid)
    if not deleted:
        raise errors.blob_upload_unknown(uuid)
    return web.Response(status=204, headers={"Content-Length": "0"})
