"""Upload figures: a monolithic PUT streamed from a generator, the in-process floor, and server RSS.

The body is never held in memory: it repeats one random 1 MiB block, preceded by a block that is
different for every push (so no registry can skip work by recognising a blob it already has).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

from benchmarks.baselines import hash_and_write
from benchmarks.memory import PeakRss
from registry_harness.client import RegistryClient, with_query

MIB = 1 << 20
CHUNK = MIB


class StreamedBody:
    """``size`` bytes produced chunk by chunk; iterable any number of times, with a length.

    requests sends an iterable that has ``__len__`` with a ``Content-Length`` (not chunked), which is
    how container clients send a monolithic blob PUT.
    """

    _shared = os.urandom(CHUNK)

    def __init__(self, size: int, chunk: int = CHUNK) -> None:
        self.size = size
        self.chunk = min(chunk, CHUNK)
        self.first = os.urandom(self.chunk)
        self.block = self._shared[:self.chunk]
        self._digest: str | None = None

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[bytes]:
        remaining = self.size
        block = self.first
        while remaining > 0:
            piece = block if remaining >= len(block) else block[:remaining]
            yield piece
            remaining -= len(piece)
            block = self.block

    @property
    def digest(self) -> str:
        """sha256 of the whole body (computed once, before any timing)."""
        if self._digest is None:
            hasher = hashlib.sha256()
            for piece in self:
                hasher.update(piece)
            self._digest = f"sha256:{hasher.hexdigest()}"
        return self._digest


def push_streamed(client: RegistryClient, repo: str, body: StreamedBody) -> float:
    """POST an upload, then one monolithic PUT ``?digest=`` streaming ``body``; seconds from POST to 201."""
    digest = body.digest
    started = time.perf_counter()
    response = client.start_upload(repo, expect=202)
    client.request("PUT", with_query(client.location(response), {"digest": digest}), data=body,
                   headers={"Content-Type": "application/octet-stream"}, expect=201)
    return time.perf_counter() - started


def write_in_process(body: StreamedBody, directory: str | os.PathLike) -> float:
    """Seconds to hash and write ``body`` to a file in ``directory`` with fsync (file removed after)."""
    path = Path(directory) / f"inprocess-{os.getpid()}.bin"
    started = time.perf_counter()
    digest = hash_and_write(body, path)
    elapsed = time.perf_counter() - started
    path.unlink()
    if digest != body.digest:
        raise AssertionError("in-process baseline hashed different bytes than the generator produced")
    return elapsed


def rss_during_push(client: RegistryClient, repo: str, body: StreamedBody, pid: int) -> PeakRss:
    """Push ``body`` while watching the resident memory of the server process ``pid``."""
    body.digest  # noqa: B018 - hash before measuring, so the client's work does not overlap
    with PeakRss(pid) as watch:
        push_streamed(client, repo, body)
    return watch


def delete_blob_quietly(client: RegistryClient, repo: str, digest: str) -> None:
    """Free the disk a measured push used (registries without blob delete keep it; that is fine)."""
    try:
        client.delete_blob(repo, digest)
    except Exception:  # noqa: BLE001 - best effort cleanup, the run's temp dir goes away anyway
        pass
